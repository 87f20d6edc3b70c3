"""A sign-in between its two steps: the password was right, the code is still to come.

Kept in Flask's session (a cookie signed with SECRET_KEY, so it cannot be forged or moved to
another account, and it lives in this browser only), for a few minutes, and bound to the account's
session token: a password change in between ends it. It carries no secret, only who and until when.
"""
from flask import session

from portal import clock

KEY = "two_factor_pending"
MINUTES = 5


def begin(user, remember, next_url, sso=None):
    """Remember that `user` gave the right password (or came back from the company's provider:
    `sso`, what sso_views.complete keeps of it) in this browser; a fresh session is started."""
    session.clear()
    session[KEY] = {"user": user.id, "token": user.session_token, "remember": bool(remember),
                    "next": next_url or "", "until": int(clock.timestamp()) + MINUTES * 60, "sso": sso}


def current():
    """The pending sign-in of this browser (a dict) while it is fresh, else None."""
    pending = session.get(KEY)
    if not isinstance(pending, dict) or not isinstance(pending.get("until"), int):
        return None
    if pending["until"] < clock.timestamp():
        session.pop(KEY, None)
        return None
    return pending


def drop():
    session.pop(KEY, None)
