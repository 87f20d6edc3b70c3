"""PostgreSQL settings: a pooled connection is checked only after it has rested.

SQLAlchemy's pool_pre_ping asks the server before every checkout: one more round trip on every
request (about 0.4 ms of a 5 ms grid fragment here, docs/PERFORMANCE.md). What kills a pooled
connection in practice — a server restart, a proxy or firewall dropping idle sockets — happens
while it rests in the pool, so a connection handed back moments ago is used as it is and one that
rested longer than DATABASE_PING_IDLE_SECONDS is pinged first, and replaced if it is gone.
"""
import time

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError

_RESTED_SINCE = "portal_rested_since"


def ping_when_rested(engine, idle_seconds):
    """Ping a connection at checkout when it has been in the pool longer than `idle_seconds`."""

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
