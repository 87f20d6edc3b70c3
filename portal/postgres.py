"""PostgreSQL, with fewer round trips and plans that fit: a pooled connection is checked only
after it has rested (ping_when_rested), and a search is planned for its own words
(plan_statements_that_ask). Pages that only read run without a transaction: portal.units.
Every round trip costs the worker, the server and the switches between them, whatever the
statement: a request should send the statements it needs and nothing around them.
"""
import time

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError

_RESTED_SINCE = "portal_rested_since"


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
