"""SQLite settings for several processes sharing one file."""
from flask import has_request_context, request
from sqlalchemy import event

READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def begin_statement():
    """BEGIN for page reads (WAL readers never wait); BEGIN IMMEDIATE for anything that may write.

    A deferred transaction that reads and then writes can be refused at once with "database is
    locked" when another process wrote in between; taking the write lock at BEGIN makes it wait
    for the busy timeout instead, so check-then-act rules (claiming a key) queue and succeed.
    """
    if has_request_context() and request.method in READ_METHODS:
        return "BEGIN"
    return "BEGIN IMMEDIATE"


def tune_sqlite(engine):
    """WAL, foreign keys, a busy timeout, and BEGIN chosen by begin_statement()."""

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
        connection.exec_driver_sql(begin_statement())
