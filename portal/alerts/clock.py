"""Days as the customer counts them: in the portal's TIMEZONE, not in UTC."""
from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo


def local_today(tz_name, now=None):
    """Today's date in `tz_name` (now: an aware datetime, default the current time)."""
    return (now or datetime.now(timezone.utc)).astimezone(ZoneInfo(tz_name)).date()


def day_start(day, tz_name):
    """The UTC instant at which `day` begins in `tz_name`."""
    return datetime.combine(day, time(0), ZoneInfo(tz_name)).astimezone(timezone.utc)
