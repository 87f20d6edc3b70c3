"""SQLite settings for several processes sharing one file."""
from sqlalchemy import event

from portal.units import Work, connection_work


def begin_statement(work):
    """BEGIN IMMEDIATE for a unit that writes (the write lock at once, so check-then-act rules queue
    for the busy timeout); a deferred BEGIN for the others (WAL readers never wait). portal.units."""
    return "BEGIN IMMEDIATE" if work is Work.WRITES else "BEGIN"


def tune_sqlite(engine):
    """WAL, foreign keys, a busy timeout, and the BEGIN of the connection's unit of work."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event below issues BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # asked for statements on their own (the health check): no transaction
        connection.exec_driver_sql(begin_statement(connection_work(connection)))
