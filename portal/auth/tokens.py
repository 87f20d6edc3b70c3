"""Signed, expiring, single-use links: e-mail verification, password reset, e-mail change.

A token is signed with SECRET_KEY and a salt of its own purpose (a reset token is no verification
token), carries the time it was issued, and a fingerprint of the account state that using it
changes. Once used — the e-mail verified, the password changed, the address changed — the state
no longer matches and the token is dead, without any table of used tokens.
"""
import hashlib
import hmac
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired

from portal.extensions import db
from portal.models import User
from portal.signing import timed_serializer

VERIFY_EMAIL = "verify-email"
RESET_PASSWORD = "reset-password"
CHANGE_EMAIL = "change-email"
# A user the back office created chooses a first password: a reset link that lives a week.
SET_PASSWORD = "set-password"

SALTS = {purpose: f"portal.accounts.{purpose}"
         for purpose in (VERIFY_EMAIL, RESET_PASSWORD, CHANGE_EMAIL, SET_PASSWORD)}
MAX_AGE = {
    VERIFY_EMAIL: 3 * 24 * 3600,
    RESET_PASSWORD: 3600,
    SET_PASSWORD: 7 * 24 * 3600,
    CHANGE_EMAIL: 24 * 3600,
}
HOURS = {purpose: seconds // 3600 for purpose, seconds in MAX_AGE.items()}


class TokenError(Exception):
    """The link cannot be used; the message says why, in Spanish."""


class TokenInvalid(TokenError):
    def __init__(self):
        super().__init__("El enlace no es válido. Revisa que lo hayas copiado completo.")


class TokenExpired(TokenError):
    def __init__(self):
        super().__init__("El enlace expiró. Solicita uno nuevo.")


class TokenUsed(TokenError):
    def __init__(self):
        super().__init__("Este enlace ya se usó o fue reemplazado por uno más reciente.")


@dataclass
class Claim:
    user: User
    data: dict


def issue(purpose, user, *, at=None, **data):
    """A token for `purpose` bound to `user`'s current state; `at` (epoch seconds) backdates it (tests)."""
    payload = {"u": user.id, "f": fingerprint(purpose, user, data), **data}
    return _serializer(purpose, at).dumps(payload)


def read(purpose, token):
    """The user (and extra data) of a valid, unexpired, unused token of this purpose."""
    serializer = _serializer(purpose)
    try:
        payload = serializer.loads(token, max_age=MAX_AGE[purpose])
    except SignatureExpired as error:
        # A genuine but old link: say so only if the signature itself was good.
        if error.date_signed is None:
            raise TokenInvalid() from None
        raise TokenExpired() from None
    except BadSignature:
        raise TokenInvalid() from None
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int):
        raise TokenInvalid()
    user = db.session.get(User, payload["u"])
    data = {k: v for k, v in payload.items() if k not in ("u", "f")}
    if user is None or not hmac.compare_digest(str(payload.get("f")), fingerprint(purpose, user, data)):
        raise TokenUsed()
    return Claim(user, data)


def fingerprint(purpose, user, data):
    """A keyed digest of the state the token's use will change (so it cannot be used twice)."""
    if purpose == VERIFY_EMAIL:
        state = [user.email, "verified" if user.email_verified else "pending"]
    elif purpose in (RESET_PASSWORD, SET_PASSWORD):
        state = [user.email, user.password_hash or ""]
    else:  # CHANGE_EMAIL: dies when the address changes, or the password does (account recovered)
        state = [user.email, user.password_hash or "", data.get("email", "")]
    message = "\x1f".join([purpose, str(user.id), *state]).encode()
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def _serializer(purpose, at=None):
    return timed_serializer(current_app.config["SECRET_KEY"], SALTS[purpose], at)
