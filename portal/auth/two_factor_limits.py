"""THE LIMITS OF TWO-FACTOR SIGN-IN — every one of them is declared here, on today's portal.limits.

(To port to the single table of named limits: the two rates below and the three calls.)
A wrong code counts against the account and against the address; both are checked before the code
is: once over, even a right code waits, or the limit would not stop a guesser (a 6-digit code
has a million values; 5 tries per 15 minutes make guessing one hopeless).
"""
from portal import limits
from portal.auth.throttle import Throttled

TWO_FACTOR_ACCOUNT = "5/15 minutes"
TWO_FACTOR_IP = "20/15 minutes"


def _rules(user_id, ip):
    return ((TWO_FACTOR_IP, ("two-factor-ip", ip or "?")), (TWO_FACTOR_ACCOUNT, ("two-factor-account", str(user_id))))


def check(user_id, ip):
    """Raise Throttled if this account or this address got the code wrong too often lately."""
    for rate, key in _rules(user_id, ip):
        verdict = limits.test(rate, *key)
        if not verdict.allowed:
            raise Throttled(verdict)


def count_failure(user_id, ip):
    for rate, key in _rules(user_id, ip):
        limits.hit(rate, *key)


def forget_failures(user_id):
    """The account passed the second step: its failures no longer count (the address's still do)."""
    limits.clear(TWO_FACTOR_ACCOUNT, "two-factor-account", str(user_id))
