"""The portal's one clock: the instant in UTC, and the day as the customer counts it.

Every rule, view, CLI command and the API read "now" and "today" here. "Today" is the date in the
portal's TIMEZONE, never the server process's own: a server in UTC is already tomorrow in Mexico
City every evening. Rules take `today` as a parameter; their callers read it here.

Tests set the clock (`set_today`, `travel`): it then runs on from the instant they chose, so
intervals still pass. Rate-limit windows belong to their library and count real seconds.
"""
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

_shift = timedelta(0)


def now():
    """The current instant, aware, in UTC."""
    return datetime.now(timezone.utc) + _shift


def timestamp():
    """The current instant in epoch seconds (signed links, TOTP steps, pending sign-ins)."""
    return now().timestamp()


def today(tz_name):
    """Today's date in `tz_name` (the portal's TIMEZONE)."""
    return local_date(now(), tz_name)


def local_date(instant, tz_name):
    """The date of the aware `instant` in `tz_name`."""
    return instant.astimezone(ZoneInfo(tz_name)).date()


def day_start(day, tz_name):
    """The UTC instant at which `day` begins in `tz_name`."""
    return datetime.combine(day, time(0), ZoneInfo(tz_name)).astimezone(timezone.utc)


# --- setting the clock (tests, and a test server started for them) --------------------------------

def set_today(day, tz_name):
    """Run the clock from noon of `day` in `tz_name`: far from either midnight, so a test's day holds."""
    set_now(datetime.combine(day, time(12), ZoneInfo(tz_name)))


def set_now(instant):
    """Run the clock from the aware `instant`."""
    global _shift
    _shift = instant - datetime.now(timezone.utc)


def travel(delta):
    """Move the clock by `delta` (a timedelta) and run on from there."""
    global _shift
    _shift += delta


def shift_seconds():
    """How far the clock runs from the real one, in seconds (handed to a server a test starts)."""
    return _shift.total_seconds()


def set_shift_seconds(seconds):
    """Run the clock `seconds` from the real one (a server started by a test, from shift_seconds())."""
    global _shift
    _shift = timedelta(seconds=seconds)


def reset():
    """Back to the real clock."""
    global _shift
    _shift = timedelta(0)
