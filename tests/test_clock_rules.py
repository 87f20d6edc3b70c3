"""One clock: today is the customer's day in TIMEZONE, whatever the server process's own zone."""
import re
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from portal import clock
from tests.clock_helpers import TEST_TODAY, TIMEZONE

PORTAL = Path(__file__).resolve().parent.parent / "portal"
# A date or an instant not from portal/clock.py: the process's own zone, or an instant without one.
OTHER_CLOCKS = re.compile(r"\bdate\.today\(|\bdatetime\.today\(|\bdatetime\.utcnow\(|\bdatetime\.now\(\s*\)"
                          r"|\btime\.time\(")
# Rate-limit windows are the limits library's, in real epoch seconds (said where it is read).
REAL_SECONDS = {"limits.py"}


def test_no_module_of_the_portal_reads_another_clock():
    found = []
    for path in sorted(PORTAL.rglob("*.py")):
        if path.name == "clock.py" or path.name in REAL_SECONDS and path.parent == PORTAL:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if OTHER_CLOCKS.search(line.split("#", 1)[0]):
                found.append(f"{path.relative_to(PORTAL.parent)}:{number}: {line.strip()}")
    assert found == []


def test_the_grep_finds_what_it_looks_for():
    for line in ("d = date.today()", "now = datetime.now()", "datetime.utcnow()", "t = time.time()"):
        assert OTHER_CLOCKS.search(line), line
    for line in ("clock.today(tz)", "datetime.now(timezone.utc)", "clock.now()"):
        assert not OTHER_CLOCKS.search(line), line


def test_today_is_the_day_in_timezone_not_in_utc():
    # 05:30 UTC on the 8th is still the evening of the 7th in Mexico City, and morning of the 8th in Tokyo.
    clock.set_now(datetime(2026, 12, 8, 5, 30, tzinfo=timezone.utc))
    assert clock.today("America/Mexico_City") == date(2026, 12, 7)
    assert clock.today("Asia/Tokyo") == date(2026, 12, 8)
    assert clock.today("UTC") == date(2026, 12, 8)


def test_the_process_time_zone_changes_nothing(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        clock.set_now(datetime(2026, 12, 8, 3, 0, tzinfo=timezone.utc))  # 21:00 on the 7th in Mexico City
        assert clock.today(TIMEZONE) == date(2026, 12, 7)
        assert clock.now().utcoffset() == timedelta(0)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_set_clock_runs_on_and_travels():
    clock.set_today(date(2028, 2, 29), TIMEZONE)
    first = clock.now()
    assert clock.today(TIMEZONE) == date(2028, 2, 29)
    assert first.astimezone(ZoneInfo(TIMEZONE)).hour == 12  # noon: far from either midnight
    assert clock.now() >= first
    clock.travel(timedelta(days=1))
    assert clock.today(TIMEZONE) == date(2028, 3, 1)
    assert abs(clock.timestamp() - clock.now().timestamp()) < 1


def test_a_started_process_follows_the_tests_clock(monkeypatch):
    from tests.clock_helpers import CLOCK_SHIFT_VARIABLE, follow_test_clock

    clock.set_today(date(2027, 12, 31), TIMEZONE)
    monkeypatch.setenv(CLOCK_SHIFT_VARIABLE, repr(clock.shift_seconds()))
    clock.reset()
    follow_test_clock()
    assert clock.today(TIMEZONE) == date(2027, 12, 31)


def test_every_test_starts_on_the_suites_day(portal_clock):
    assert portal_clock.today(TIMEZONE) == TEST_TODAY


def test_day_start_is_midnight_in_timezone():
    assert clock.day_start(date(2026, 12, 7), TIMEZONE) == datetime(2026, 12, 7, 6, 0, tzinfo=timezone.utc)
    # A zone that kept summer time: Tijuana at midnight on 2026-07-01 is 07:00 UTC.
    assert clock.day_start(date(2026, 7, 1), "America/Tijuana") == datetime(2026, 7, 1, 7, 0, tzinfo=timezone.utc)


def test_the_clock_imports_nothing_of_flask_or_the_portal():
    source = (PORTAL / "clock.py").read_text(encoding="utf-8")
    assert not re.search(r"^(from|import) (flask|portal)", source, re.M)
