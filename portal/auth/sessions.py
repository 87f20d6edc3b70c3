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
from portal import clock

log = logging.getLogger("portal.sessions")

# last_seen_at is written at most this often per session: one primary-key read per request otherwise.
TOUCH_EVERY = timedelta(minutes=1)


def _digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


# What a page knows of the signed-in account, read on every request: values, not the mapped User
# (building it is most of what reading the user costs).
ACCOUNT_FIELDS = ("id", "email", "name", "phone", "email_verified_at", "session_token")
ACCOUNT_COLUMNS = tuple(getattr(User, name) for name in ACCOUNT_FIELDS)
_SESSION_TOKEN = ACCOUNT_FIELDS.index("session_token")


class SignedIn:
    """Flask-Login's user for a signed-in browser (`current_user`): the account's values, the
    secret that names this browser's session row, and what was read with them for this request —
    the desk the session chose (portal.desks.ActiveDesk) and every grid's saved columns
    ({grid: text}, portal.column_choices.column_choices_of), or None when not read.

    A view that changes the account asks for the mapped object: account()."""

    __slots__ = (*ACCOUNT_FIELDS, "secret", "desk", "column_choices")
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, values, secret, *, desk=None, column_choices=None):
        """`values`: ACCOUNT_COLUMNS' in their order."""
        for name, value in zip(ACCOUNT_FIELDS, values, strict=True):
            setattr(self, name, value)
        self.secret, self.desk, self.column_choices = secret, desk, column_choices

    @classmethod
    def of(cls, user, secret, **read):
        """The SignedIn of the mapped `user` as it stands now."""
        return cls([getattr(user, name) for name in ACCOUNT_FIELDS], secret, **read)

    @property
    def email_verified(self):
        return self.email_verified_at is not None

    def get_id(self):
        """The id kept in the session and the remember-me cookie: user, token, session."""
        return f"{self.id}:{self.session_token}:{self.secret}"

    def account(self):
        """The mapped User, for a view that changes the account (read now, unless this request has)."""
        return db.session.get(User, self.id)


def start(user, *, idle_limit=None, desk=None, column_choices=None):
    """A new session for `user`, as the SignedIn that login_user() takes; also drops the
    account's sessions idle longer than `idle_limit`. `desk`, `column_choices`: what this
    request already knows (a browser that goes on in a new session keeps its desk)."""
    if idle_limit is not None:
        db.session.execute(delete(UserSession).where(UserSession.user_id == user.id,
                                                     UserSession.last_seen_at < clock.now() - idle_limit))
    secret = secrets.token_urlsafe(32)
    db.session.add(UserSession(id=_digest(secret), user_id=user.id))
    return SignedIn.of(user, secret, desk=desk, column_choices=column_choices)


def end(signed_in):
    """Sign out the session `signed_in` was loaded for (the others go on)."""
    db.session.execute(delete(UserSession).where(UserSession.id == _digest(signed_in.secret)))


def end_all(user):
    """Sign the account out everywhere (password or e-mail changed, password reset)."""
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id))


def load_statement(also=()):
    """The statement load() runs, for its caller to build once: composing a statement costs more
    than the round trip it then makes. `also`: more values of the same row — columns of the
    desk the session chose (`desks`, outer-joined on the user's membership of it) or scalar
    subqueries on the user (e.g. portal.column_choices.column_choices_of)."""
    return (select(*ACCOUNT_COLUMNS, UserSession.last_seen_at, UserSession.created_at, *also)
            .select_from(User)
            .join(UserSession, UserSession.user_id == User.id)
            .outerjoin(Membership, and_(Membership.user_id == User.id, Membership.desk_id == bindparam("desk_id")))
            .outerjoin(Desk, Desk.id == Membership.desk_id)
            .where(UserSession.id == bindparam("key"), User.id == bindparam("pk")))


PLAIN_LOAD = load_statement()


class LiveSession(NamedTuple):
    """What load() read of a live session: the account's values (ACCOUNT_COLUMNS'), the
    session's secret and the values of load_statement's `also`."""
    account: tuple
    secret: str
    also: tuple


def load(user_id, *, idle_limit, max_age=None, touch=True, desk_id=None, statement=PLAIN_LOAD):
    """The user of a live session, from the Flask-Login id "<user>:<token>:<secret>", or None.

    A session is over once unused for `idle_limit`, and `max_age` after it started whatever its use.

    One primary-key lookup, on the session's connection without the ORM; `touch` records the
    visit (at most once a minute, outside the request's transaction, and never failing the
    request). `desk_id`: the desk the session chose, whose columns `statement`'s `also` may read
    (None there if the user no longer belongs to it) — one round trip less on every page
    (portal.desks). `statement`: one made by load_statement(also).
    Returns a LiveSession, or None.
    """
    try:
        pk, token, secret = str(user_id).split(":", 2)
        pk = int(pk)
    except ValueError:
        return None
    key = _digest(secret)
    row = db.session.connection().execute(statement, {"key": key, "pk": pk, "desk_id": desk_id}).first()
    if row is None:
        return None
    n = len(ACCOUNT_COLUMNS)
    account, (last_seen, started), also = tuple(row[:n]), row[n:n + 2], tuple(row[n + 2:])
    now = clock.now()
    if last_seen.tzinfo is None:  # SQLite returns naive UTC
        last_seen, started = last_seen.replace(tzinfo=now.tzinfo), started.replace(tzinfo=now.tzinfo)
    if account[_SESSION_TOKEN] != token or now - last_seen > idle_limit:
        return None
    if max_age is not None and now - started > max_age:
        return None
    if touch and now - last_seen >= TOUCH_EVERY:
        _touch(key, now)
    return LiveSession(account, secret, also)


def _touch(key, now):
    # Its own short transaction: a page view (GET) does not commit, and an idle session's clock
    # must move anyway. Losing one touch only makes the session look a minute older.
    try:
        with db.engine.begin() as connection:
            connection.execute(update(UserSession).where(UserSession.id == key).values(last_seen_at=now))
    except SQLAlchemyError as error:
        log.info("No se registró la actividad de una sesión: %s", type(error).__name__)
