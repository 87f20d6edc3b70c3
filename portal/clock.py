from datetime import datetime, timezone
from zoneinfo import ZoneInfo
def now(): return datetime.now(timezone.utc)
def today(tz_name): return now().astimezone(ZoneInfo(tz_name)).date()
