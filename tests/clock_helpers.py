"""The portal's clock in the tests, and in the processes a test starts (gunicorn, another interpreter).

Every test runs with the clock set to noon of TEST_TODAY (tests/conftest.py), and its data is dated
from it: PORTAL_TEST_TODAY=AAAA-MM-DD runs the whole suite on any day of the year.
"""
import os
from datetime import date

from portal import clock

# The portal's TIMEZONE unless a test configures another.
TIMEZONE = "America/Mexico_City"
TEST_TODAY = (date.fromisoformat(os.environ["PORTAL_TEST_TODAY"]) if os.environ.get("PORTAL_TEST_TODAY")
              else clock.today(TIMEZONE))
# A process a test starts runs the portal's clock this many seconds from the real one, as the test does.
CLOCK_SHIFT_VARIABLE = "PORTAL_TEST_CLOCK_SHIFT"


def follow_test_clock():
    """Run the portal's clock as the test that started this process (tests/conftest.py sets the variable)."""
    shift = os.environ.get(CLOCK_SHIFT_VARIABLE)
    if shift:
        clock.set_shift_seconds(float(shift))
