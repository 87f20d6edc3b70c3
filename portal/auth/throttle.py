"""The accounts' rate limits, on the named limits of portal/limits.py.

Sign-in counts every attempt before the password is checked (hit-then-check: processes racing
cannot all slip under the limit) and gives back the ones that turn out right. The limits are per
address and per (account, address), so one person's wrong passwords never lock the account's owner
out elsewhere. The account's ceiling, reached from many addresses, slows rather than blocks: past
it an address the account signed in from goes on as before, and any other address gets its first
attempt of the window (so the owner, from a new address, with the right password still gets in;
someone trying from many addresses gets one guess per address per window). Two-factor codes have
the same shape.
Actions that send e-mail count every request, so nobody can flood a mailbox through the portal;
past a recipient's ceiling a reset is answered as any other, without a mail (portal/auth/views.py).
Each function raises limits.RateLimited; the views answer it with portal.errors.rate_limited.
"""
from portal import limits


def _key(email):
    return (email or "").strip().lower()


def _ceiling(name, key, address_limit, address_key, known_address=None):
    """Count against an account's ceiling; over it, an address passes on its first attempt of the
    window (counted by `address_limit` for `address_key`), or when `known_address()` vouches for it."""
    try:
        limits.hit(name, *key)
    except limits.RateLimited as refused:
        if refused.storage_down:
            raise
        if limits.used(address_limit, *address_key) <= 1:
            return  # slowed, not locked out: one attempt per address and window
        if known_address is None or not known_address():
            raise


def _mail_ceiling(name, key, known_address):
    """Count against a recipient's ceiling; over it, only an address `known_address()` vouches for passes."""
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
    _ceiling("signin_account", (_key(email),), "signin_account_address", (_key(email), ip or "?"), known_address)


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
        _mail_ceiling("mail_account", (action, _key(email)), known_address)
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
    limits.hit("two_factor_account_address", user_id, ip or "?")
    _ceiling("two_factor_account", (user_id,), "two_factor_account_address", (user_id, ip or "?"))


def code_not_checked(user_id, ip):
    """The code was never checked (the password beside it was wrong): the attempt does not count."""
    limits.refund("two_factor_address", ip or "?")
    limits.refund("two_factor_account_address", user_id, ip or "?")
    limits.refund("two_factor_account", user_id)


def code_was_right(user_id, ip):
    """The code was right: the attempt does not count and the account's failures are forgiven (the address's stay)."""
    limits.refund("two_factor_address", ip or "?")
    limits.clear("two_factor_account_address", user_id, ip or "?")
    limits.clear("two_factor_account", user_id)
