"""Sign-in rules, apart from HTTP."""
from sqlalchemy import func, select

from portal.auth.passwords import hash_password, password_matches, password_needs_rehash
from portal.extensions import db
from portal.models import User
from portal.models._types import utcnow


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
    user = find_user_by_email(email)
    if not password_matches(user, password):
        raise BadCredentials(user)
    if password_needs_rehash(user):
        # Made with an older method or strength: the password is at hand only now (the caller commits).
        user.password_hash = hash_password(password)
    return user


def mark_verified(user):
    """The user proved they read this address (a link sent to it was opened); True if it is news."""
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        return True
    return False
