"""The accounts' rate limits, on the named limits of portal/limits.py.

Sign-in counts every attempt before the password is checked (hit-then-check: processes racing
cannot all slip under the limit) and gives back the ones that turn out right. The limits are per
address and per (account, address), so one person's wrong passwords never lock the account's owner
out elsewhere; the account's ceiling, reached from many addresses, stops only addresses the account
never signed in from: its owner goes on signing in (and resetting) from their own.
Actions that send e-mail count every request, so nobody can flood a mailbox through the portal.
Each function raises limits.RateLimited; the views answer it with portal.errors.rate_limited.
"""
from portal import limits


def _key(email):
    return (email or "").strip().lower()


def _ceiling(name, key, known_address):
    """Count against an account's ceiling; over it, only an address `known_address()` vouches for passes."""
    try:
        limits.hit(name, *key)
    except limits.RateLimited as refused:
        if refused.storage_down or not known_address():
            raise


def sign_in_attempt(ip, email, known_address):
    """Count one sign-in attempt before its password is checked; RateLimited when over.

    `known_address()`: has this account signed in from `ip` before (asked only at the ceiling)."""
    limits.hit("signin_address", ip or "?")
    limits.hit("signin_account_address", _key(email), ip or "?")
    _ceiling("signin_account", (_key(email),), known_address)


def sign_in_succeeded(ip, email):
    """The password was right: the attempt does not count, and the earlier failures from here are forgiven."""
    limits.refund("signin_address", ip or "?")
    limits.refund("signin_account", _key(email))
    limits.clear("signin_account_address", _key(email), ip or "?")


def password_reset(ip, email):
    """The account got a new password from its mailbox: its failures no longer count."""
    limits.clear("signin_account", _key(email))
    limits.clear("signin_account_address", _key(email), ip or "?")


def spend(action, ip=None, email=None, user=None, known_address=lambda: False):
    """Count one e-mail-sending `action` by address, (recipient, address) and user; RateLimited when over.

    A recipient's own ceiling stops only addresses `known_address()` does not vouch for, so a
    stranger spending it does not keep the owner from resetting their password."""
    if ip is not None:
        limits.hit("mail_address", action, ip)
    if email is not None:
        limits.hit("mail_account_address", action, _key(email), ip or "?")
        _ceiling("mail_account", (action, _key(email)), known_address)
    if user is not None:
        limits.hit("mail_user", action, getattr(user, "id", user))


def password_attempt(user):
    """Count one check of the user's current password (Mi perfil) before it is made."""
    limits.hit("password_check", user.id)


def password_was_right(user):
    limits.refund("password_check", user.id)


def code_attempt(user_id, ip):
    """Count one two-factor code (sign-in or Mi perfil) before it is checked; RateLimited when over."""
    limits.hit("two_factor_address", ip or "?")
    limits.hit("two_factor_account", user_id)


def code_not_checked(user_id, ip):
    """The code was never checked (the password beside it was wrong): the attempt does not count."""
    limits.refund("two_factor_address", ip or "?")
    limits.refund("two_factor_account", user_id)


def code_was_right(user_id, ip):
    """The code was right: the attempt does not count and the account's failures are forgiven (the address's stay)."""
    limits.refund("two_factor_address", ip or "?")
    limits.clear("two_factor_account", user_id)
