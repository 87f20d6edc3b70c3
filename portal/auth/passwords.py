"""Passwords: hashing with the configured method, and what a new password must be.

PASSWORD_HASH_METHOD is "argon2id:MEMORY_KIB:ITERATIONS:PARALLELISM" (argon2-cffi) or any Werkzeug
method ("scrypt:32768:8:1", "pbkdf2:sha256:600000"). A stored hash of another method or strength
still signs in, and is made again with the configured one at that sign-in (needs_rehash).

Why argon2id:19456:2:1 by default: it is OWASP's first choice for ASVS V11.4 (19 MiB, 2 iterations),
and of those choices the one whose check leaves room for sign-in's latency budget (bench/routes.py)
when sign-ins arrive together on few cores: each check holds a core for its whole time, so the
last of them waits for all the others. Its scrypt and PBKDF2 equivalents hold it several times
longer (bench/README.md, "Passwords", has the figures).

A new password is refused when it is one an attacker tries first: shorter than MIN_LENGTH, the
account's e-mail, fewer than three different characters, or in common_passwords.txt (one list,
shipped, of common and breached passwords; ASVS 5.0 V6.2.4, V6.2.12).
"""
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
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


ARGON2 = "argon2id"


@lru_cache(maxsize=8)
def _argon2(method):
    """The hasher of "argon2id:MEMORY_KIB:ITERATIONS:PARALLELISM"."""
    try:
        name, memory, iterations, parallelism = method.split(":")
        if name != ARGON2:
            raise ValueError(name)
        return PasswordHasher(time_cost=int(iterations), memory_cost=int(memory), parallelism=int(parallelism),
                              type=Type.ID)
    except ValueError:
        raise ValueError(f"PASSWORD_HASH_METHOD no válido: {method!r} (p. ej. argon2id:19456:2:1)") from None


def make_hash(password, method):
    """A salted hash of `password` with `method` (argon2id:… or a Werkzeug method)."""
    if method.split(":", 1)[0] == ARGON2:
        return _argon2(method).hash(password)
    return generate_password_hash(password, method=method)


def hash_matches(stored, password):
    """Whether `password` is the one `stored` was made from, whatever method made it."""
    if stored.startswith("$argon2"):
        try:
            return _argon2(f"{ARGON2}:19456:2:1").verify(stored, password)  # the hash carries its own parameters
        except (VerificationError, InvalidHashError):
            return False
    return check_password_hash(stored, password)


@lru_cache(maxsize=8)
def _werkzeug_prefix(method):
    # What Werkzeug writes before the first "$" for `method` ("scrypt" alone means its defaults).
    return generate_password_hash("", method=method).split("$", 1)[0]


def needs_rehash(stored, method):
    """True when `stored` was not made with `method` as configured now (upgraded at sign-in)."""
    if method.split(":", 1)[0] == ARGON2:
        return not stored.startswith(f"${ARGON2}$") or _argon2(method).check_needs_rehash(stored)
    return stored.split("$", 1)[0] != _werkzeug_prefix(method)


def hash_password(password):
    """A salted hash with the configured method (argon2id by default)."""
    return make_hash(password, current_app.config["PASSWORD_HASH_METHOD"])


def password_matches(user, password):
    """True when `password` is the user's; spends the same effort when there is no user."""
    if user is None or not user.password_hash:
        spend_hash_time(password)
        return False
    return hash_matches(user.password_hash, password)


def password_needs_rehash(user):
    """Whether the user's stored hash is of another method or strength than the configured one."""
    return bool(user.password_hash) and needs_rehash(user.password_hash, current_app.config["PASSWORD_HASH_METHOD"])


def spend_hash_time(password):
    """Check `password` against a throwaway hash: the time a real check would take, for nothing."""
    method = current_app.config["PASSWORD_HASH_METHOD"]
    if method not in _DUMMY_HASH:
        _DUMMY_HASH[method] = make_hash("sin-usuario", method)
    hash_matches(_DUMMY_HASH[method], password)


@lru_cache(maxsize=1)
def common_passwords():
    """The shipped list of common and breached passwords, in lower case (read once, offline)."""
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


COMMON = "Esa contraseña es demasiado común y fácil de adivinar. Elige otra."


def check_new_password(password, email=""):
    """Refuse a password that is short, overlong, common or breached, or the account's own e-mail."""
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
        raise WeakPassword(COMMON)


def set_password(user, password):
    """Give the user a new (checked) password and end every session it had: a new session token."""
    check_new_password(password, user.email)
    user.password_hash = hash_password(password)
    user.session_token = new_session_token()
    sessions.end_all(user)
