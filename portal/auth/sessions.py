"""Server-side sessions: each signed-in browser is a row, so a session can be ended for good.

Flask keeps its session in a signed cookie: signing out only tells the browser to forget it, and a
copy taken before still works. Here the cookie's Flask-Login id names a row of `user_sessions`
(by a random secret whose SHA-256 is the row's key); signing out deletes the row, and a password or
e-mail change deletes every row of the account, so copied session and remember-me cookies die.

Flask-free: the views call these with a user or a SignedIn; the caller commits.
"""
import hashlib
import logging
import secrets
from datetime import timedelta
from typing import NamedTuple

from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db
from portal.models import Desk, Membership, User, UserSession
from portal.models._types import utcnow

log = logging.getLogger("portal.sessions")

# last_seen_at is written at most this often per session: one primary-key read per request otherwise.
TOUCH_EVERY = timedelta(minutes=1)


def _digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


class SignedIn:
    """Flask-Login's user for a signed-in browser (`current_user`): the account, the secret that
    names this browser's session row, and what was read with them for this request — the desk the
    session chose, if the user still belongs to it, and every grid's saved columns ({grid: text},
    portal.grid.column_choices_of), or None when not read.

    The account's few values every page shows are offered as properties; a view that changes the
    account works on `user`, the mapped object."""

    __slots__ = ("user", "secret", "desk", "column_choices")
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user, secret, *, desk=None, column_choices=None):
        self.user, self.secret, self.desk, self.column_choices = user, secret, desk, column_choices

    def get_id(self):
        """The id kept in the session and the remember-me cookie: user, token, session."""
        return f"{self.user.id}:{self.user.session_token}:{self.secret}"

    id = property(lambda self: self.user.id)
    email = property(lambda self: self.user.email)
    name = property(lambda self: self.user.name)
    phone = property(lambda self: self.user.phone)
    email_verified = property(lambda self: self.user.email_verified)


def start(user, *, idle_limit=None, desk=None, column_choices=None):
    """A new session for `user`, as the SignedIn that login_user() takes; also drops the
    account's sessions idle longer than `idle_limit`. `desk`, `column_choices`: what this
    request already knows (a browser that goes on in a new session keeps its desk)."""
    if idle_limit is not None:
        db.session.execute(delete(UserSession).where(UserSession.user_id == user.id,
                                                     UserSession.last_seen_at < utcnow() - idle_limit))
    secret = secrets.token_urlsafe(32)
    db.session.add(UserSession(id=_digest(secret), user_id=user.id))
    return SignedIn(user, secret, desk=desk, column_choices=column_choices)


def end(signed_in):
    """Sign out the session `signed_in` was loaded for (the others go on)."""
    db.session.execute(delete(UserSession).where(UserSession.id == _digest(signed_in.secret)))


def end_all(user):
    """Sign the account out everywhere (password or e-mail changed, password reset)."""
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id))


def load_statement(also=()):
    """The statement load() runs, for its caller to build once: composing a statement costs more
    than the round trip it then makes. `also`: scalar subqueries on the user (e.g. portal.grid's
    column_choices_of) that the same statement reads."""
    return (select(User, UserSession.last_seen_at, UserSession.created_at, *also, Desk)
            .join(UserSession, UserSession.user_id == User.id)
            .outerjoin(Membership, and_(Membership.user_id == User.id, Membership.desk_id == bindparam("desk_id")))
            .outerjoin(Desk, Desk.id == Membership.desk_id)
            .where(UserSession.id == bindparam("key"), User.id == bindparam("pk")))


PLAIN_LOAD = load_statement()


class LiveSession(NamedTuple):
    """What load() read of a live session: the account, the session's secret, the desk the
    session chose (None if not the user's, or none chosen) and the values of load_statement's `also`."""
    user: User
    secret: str
    desk: Desk | None
    also: tuple


def load(user_id, *, idle_limit, max_age=None, touch=True, desk_id=None, statement=PLAIN_LOAD):
    """The user of a live session, from the Flask-Login id "<user>:<token>:<secret>", or None.

    A session is over once unused for `idle_limit`, and `max_age` after it started whatever its use.

    One primary-key lookup; `touch` records the visit (at most once a minute, outside the
    request's transaction, and never failing the request). With `desk_id` (the desk the session
    chose) the same statement reads that desk if the user still belongs to it, else None — one
    round trip less on every page (portal.desks). `statement`: one made by
    load_statement(also), whose extra values are returned too.
    Returns a LiveSession, or None.
    """
    try:
        pk, token, secret = str(user_id).split(":", 2)
        pk = int(pk)
    except ValueError:
        return None
    key = _digest(secret)
    row = db.session.execute(statement, {"key": key, "pk": pk, "desk_id": desk_id}).first()
    if row is None:
        return None
    user, last_seen, started = row[0], row[1], row[2]
    now = utcnow()
    if last_seen.tzinfo is None:  # SQLite returns naive UTC
        last_seen, started = last_seen.replace(tzinfo=now.tzinfo), started.replace(tzinfo=now.tzinfo)
    if user.session_token != token or now - last_seen > idle_limit:
        return None
    if max_age is not None and now - started > max_age:
        return None
    if touch and now - last_seen >= TOUCH_EVERY:
        _touch(key, now)
    return LiveSession(user, secret, row[-1], tuple(row[3:-1]))


def _touch(key, now):
    # Its own short transaction: a page view (GET) does not commit, and an idle session's clock
    # must move anyway. Losing one touch only makes the session look a minute older.
    try:
        with db.engine.begin() as connection:
            connection.execute(update(UserSession).where(UserSession.id == key).values(last_seen_at=now))
    except SQLAlchemyError as error:
        log.info("No se registró la actividad de una sesión: %s", type(error).__name__)
