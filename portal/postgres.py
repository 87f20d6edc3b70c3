"""PostgreSQL, with fewer round trips and plans that fit: a pooled connection is checked only
after it has rested (ping_when_rested), pages that only read run without a transaction
(reads_only), and a search is planned for its own words (plan_statements_that_ask).
Every round trip costs the worker, the server and the switches between them, whatever the
statement: a request should send the statements it needs and nothing around them.
"""
import time
import weakref
from functools import wraps

from flask import has_request_context, request
from flask_sqlalchemy.session import Session
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError

_RESTED_SINCE = "portal_rested_since"
_READS_ONLY = "portal.reads_only"
_AUTOCOMMIT_VARIANTS = weakref.WeakKeyDictionary()


# An execution option: the statement is planned for the values it is sent with, every time.
PLAN_PER_EXECUTION = "plan_per_execution"


def tune_postgresql(engine, idle_seconds):
    """The engine's pool pings only rested connections; statements may ask to be planned each time."""
    ping_when_rested(engine, idle_seconds)
    plan_statements_that_ask(engine)


def plan_statements_that_ask(engine):
    """psycopg prepares a statement run five times on a connection, and PostgreSQL may then keep
    one generic plan for it, made without the values. For most of the portal's statements that
    saves the planning. A search's LIKE '%palabra%' is another matter: how many clients a word
    matches decides the plan (walk the period's keys and keep the client's, or read the matching
    clients' keys from their index and sort), and a plan made without the word cannot know it.
    A statement, or a connection, with the execution option PLAN_PER_EXECUTION is sent
    unprepared, so it is planned with its values.
    """

    @event.listens_for(engine, "do_execute")
    def _execute(cursor, statement, parameters, context):
        if context.execution_options.get(PLAN_PER_EXECUTION):
            cursor.execute(statement, parameters, prepare=False)
            return True  # executed here: SQLAlchemy does not execute it again
        return None


def ping_when_rested(engine, idle_seconds):
    """Ping a connection at checkout when it has been in the pool longer than `idle_seconds`.

    SQLAlchemy's pool_pre_ping asks the server before every checkout: one more round trip on
    every request. What kills a pooled connection in practice — a server restart, a proxy or
    firewall dropping idle sockets — happens while it rests in the pool, so a connection handed
    back moments ago is used as it is, and one that rested longer is pinged first and replaced if
    it is gone.
    """

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection, record):
        record.info[_RESTED_SINCE] = time.monotonic()  # just opened: nothing to ask

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection, record):
        if record is not None:
            record.info[_RESTED_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection, record, _proxy):
        rested = time.monotonic() - record.info.get(_RESTED_SINCE, 0.0)
        if rested < idle_seconds:
            return
        dialect = engine.dialect
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None) or dbapi_connection.closed:
                # The pool drops this connection and checks out another (a fresh one if need be).
                raise DisconnectionError("la conexión con la base de datos se perdió") from error
            raise
        record.info[_RESTED_SINCE] = time.monotonic()


class PortalSession(Session):
    """db.session: on a page marked @reads_only, the PostgreSQL engine it hands out runs each
    statement on its own (AUTOCOMMIT), for the whole request — a commit midway (a grid saving
    the user's columns) does not bring transactions back for the statements after it."""

    def get_bind(self, *args, **kwargs):
        engine = super().get_bind(*args, **kwargs)
        if (engine.dialect.name == "postgresql" and has_request_context()
                and request.environ.get(_READS_ONLY)):
            return _autocommit(engine)
        return engine


def _autocommit(engine):
    # One variant per engine: it shares the pool and the listeners, and the session keeps one
    # connection per bind, so a new variant per statement would take a new connection each time.
    variant = _AUTOCOMMIT_VARIANTS.get(engine)
    if variant is None:
        variant = _AUTOCOMMIT_VARIANTS[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return variant


def reading_page():
    """Whether this request is a page marked @reads_only (its reads are bounded: portal/deadlines.py)."""
    return has_request_context() and bool(request.environ.get(_READS_ONLY))


def reads_only(view):
    """A page that only reads (a list, a history): on PostgreSQL its statements run outside a
    transaction, so the request sends no BEGIN and no ROLLBACK — two of a grid fragment's four
    round trips. Each statement still sees committed data; a page's count and rows may come from
    moments apart, as they may for a user who reloads. A single-statement write (the grid's
    remembered columns) is whole as ever. SQLite is left as it is: its BEGIN is no round trip.
    Goes above @desk_required / @login_required, so the signed-in user is read this way too.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        if request.method in ("GET", "HEAD"):
            request.environ[_READS_ONLY] = True
        return view(*args, **kwargs)

    return wrapper
