"""Sign-in rules, apart from HTTP."""
from sqlalchemy import func, select

from portal.auth.passwords import password_matches
from portal.extensions import db
from portal.models import User


def find_user_by_email(email):
    """The user with this e-mail, however it was capitalised."""
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def authenticate(email, password):
    """The user if the e-mail and password match, else None (same cost either way)."""
    user = find_user_by_email(email)
    if not password_matches(user, password):
        return None
    return user
