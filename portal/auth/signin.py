"""Sign-in rules, apart from HTTP."""
from sqlalchemy import func, select

from portal.auth.passwords import hash_matches, hash_password, password_needs_rehash, spend_hash_time
from portal.extensions import db
from portal.models import AuditEvent, User
from portal import clock


class BadCredentials(Exception):
    """E-mail and password do not match. `user` is the account the e-mail names, if any (for the
    audit log only: the page says the same thing either way)."""

    def __init__(self, user=None):
        super().__init__("Correo o contraseña incorrectos.")
        self.user = user


def find_user_by_email(email):
    """The user with this e-mail, however it was capitalised."""
    return db.session.scalar(select(User).where(func.lower(User.email) == (email or "").strip().lower()))


def authenticate(email, password):
    """The user whose e-mail and password these are; BadCredentials otherwise (same cost either way)."""
    user_id, stored = _credentials(email)
    matched = hash_matches(stored, password) if stored else spend_hash_time(password)
    # Loaded after the check, known e-mail or not (one query either way): see _credentials.
    user = db.session.scalar(select(User).where(User.id == (user_id or 0)))
    if not matched or user is None:
        raise BadCredentials(user)
    if password_needs_rehash(user):
        # Made with an older method or strength: the password is at hand only now (the caller commits).
        user.password_hash = hash_password(password)
    return user


def _credentials(email):
    """(id, password hash) of the e-mail's user, or (None, None), read on a connection of its own.

    The hash check is the slowest thing a request does; no transaction of the request's session
    is open during it. On SQLite a POST's transaction takes the write lock at its first statement
    (portal/sqlite.py), and sign-ins would otherwise queue behind each other's hashes.
    """
    statement = select(User.id, User.password_hash).where(func.lower(User.email) == (email or "").strip().lower())
    row = _read_apart(statement)
    return tuple(row) if row is not None else (None, None)


def _read_apart(statement):
    """The first row of `statement`, outside the request's transaction unless one is already open."""
    if db.session().in_transaction():
        # Already open (a signed-in user signing in again): another connection would wait for it.
        return db.session.execute(statement).first()
    with db.engine.connect() as connection:
        return connection.execute(statement).first()


def mark_verified(user):
    """The user proved they read this address (a link sent to it was opened); True if it is news."""
    if user.email_verified_at is None:
        user.email_verified_at = clock.now()
        return True
    return False


def signed_in_from(email, ip):
    """Has the account with this e-mail ever signed in from `ip`? (its owner's own address)."""
    if not ip:
        return False
    statement = (select(AuditEvent.id).join(User, User.id == AuditEvent.user_id)
                 .where(func.lower(User.email) == (email or "").strip().lower(),
                        AuditEvent.event == "sign_in", AuditEvent.ip == ip).limit(1))
    # Read apart like the credentials: it comes before the hash, with no transaction held open.
    return _read_apart(statement) is not None
