"""Passwords: hashing with the configured Werkzeug method, and what a new password must be."""
from functools import lru_cache
from pathlib import Path

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from portal.auth import sessions
from portal.models.accounts import new_session_token

MIN_LENGTH = 8
MAX_LENGTH = 128
COMMON_FILE = Path(__file__).with_name("common_passwords.txt")

# Checked against when the e-mail is unknown, so a wrong e-mail costs the same time as a wrong password.
_DUMMY_HASH = {}


class WeakPassword(ValueError):
    """The new password is refused; the message says why, in Spanish."""


def hash_password(password):
    """A salted hash with the configured method (scrypt by default)."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def password_matches(user, password):
    """True when `password` is the user's; spends the same effort when there is no user."""
    if user is None or not user.password_hash:
        spend_hash_time(password)
        return False
    return check_password_hash(user.password_hash, password)


def spend_hash_time(password):
    """Check `password` against a throwaway hash: the time a real check would take, for nothing."""
    method = current_app.config["PASSWORD_HASH_METHOD"]
    if method not in _DUMMY_HASH:
        _DUMMY_HASH[method] = generate_password_hash("sin-usuario", method=method)
    check_password_hash(_DUMMY_HASH[method], password)


@lru_cache(maxsize=1)
def common_passwords():
    """The shipped list of the most common passwords, in lower case."""
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def check_new_password(password, email=""):
    """Refuse a password that is short, overlong, common, or the account's own e-mail."""
    password = password or ""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"La contraseña debe tener al menos {MIN_LENGTH} caracteres.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"La contraseña admite como máximo {MAX_LENGTH} caracteres.")
    lowered = password.strip().lower()
    email = (email or "").strip().lower()
    if email and lowered in {email, email.split("@")[0]}:
        raise WeakPassword("La contraseña no puede ser tu correo electrónico.")
    if lowered in common_passwords() or len(set(lowered)) < 3:
        raise WeakPassword("Esa contraseña es demasiado común y fácil de adivinar. Elige otra.")


def set_password(user, password):
    """Give the user a new (checked) password and end every session it had: a new session token."""
    check_new_password(password, user.email)
    user.password_hash = hash_password(password)
    user.session_token = new_session_token()
    sessions.end_all(user)
