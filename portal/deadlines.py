"""Reads bounded in time: a statement of a unit of work that only reads (Work.READS: the pages
marked @reads_only, the grids, the lists, asked with GET or HEAD) that would run past
STATEMENT_TIMEOUT_SECONDS is cancelled by the database, and the person reads a Spanish message
asking to narrow the search (503, portal/errors.py) — never a worker killed for its timeout.

PostgreSQL cancels it itself (statement_timeout, set on a pooled connection when a request that
reads takes it, and set back to none when anything else takes it: a write may wait for a lock).
SQLite has no such setting: a progress handler, called every few thousand steps of its virtual
machine, interrupts a statement that passed its deadline. A CSV export streams for as long as it
has rows and is not bounded on SQLite (each of its fetches is on PostgreSQL).
"""
import time
import weakref

from sqlalchemy import event

from portal.units import Work, current_work

# An execution option: this statement may run as long as it needs (a streamed export).
UNBOUNDED = "portal_unbounded"
_TIMEOUT = "portal_statement_timeout_ms"
_DEADLINE = "portal_statement_deadline"
PROGRESS_STEPS = 10_000  # SQLite virtual-machine steps between two looks at the clock
_SECONDS = weakref.WeakKeyDictionary()  # engine -> the bound of its reads


class ReadTooLong(Exception):
    """A read of many statements (a grouped page walked group by group) ran past the bound as a
    whole, though each of its statements kept within it."""


def read_deadline(engine):
    """When a read of several statements that starts now must be done (time.monotonic()), or None
    when the engine's reads are unbounded."""
    seconds = _SECONDS.get(engine)
    return time.monotonic() + seconds if seconds else None


def check(deadline):
    """Raise ReadTooLong once `deadline` (read_deadline()'s) has passed."""
    if deadline is not None and time.monotonic() > deadline:
        raise ReadTooLong()


def bound_postgresql(engine, seconds):
    """statement_timeout on connections a reading request takes; none on the others."""
    bound = int(seconds * 1000)

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection, record, _proxy):
        wanted = bound if current_work() is Work.READS else 0
        if record.info.get(_TIMEOUT, 0) == wanted:
            return
        # Outside any transaction, so it lasts on the connection whatever the request does next.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            dbapi_connection.execute(f"SET statement_timeout = {wanted:d}")
        finally:
            dbapi_connection.autocommit = autocommit
        record.info[_TIMEOUT] = wanted


def bound_sqlite(engine, seconds):
    """A deadline per statement of a reading request, kept by a progress handler."""

    @event.listens_for(engine, "connect")
    def _connected(dbapi_connection, record):
        deadline = record.info[_DEADLINE] = [None]

        def _progress():
            return 1 if deadline[0] is not None and time.monotonic() > deadline[0] else 0

        dbapi_connection.set_progress_handler(_progress, PROGRESS_STEPS)

    @event.listens_for(engine, "before_cursor_execute")
    def _starting(conn, _cursor, _statement, _parameters, context, _executemany):
        deadline = conn.info.get(_DEADLINE)
        if deadline is None:
            return
        unbounded = context is not None and context.execution_options.get(UNBOUNDED)
        deadline[0] = time.monotonic() + seconds if current_work() is Work.READS and not unbounded else None


def bound(engine, seconds):
    """Bound the engine's reads (nothing when `seconds` is 0)."""
    if seconds <= 0:
        return
    _SECONDS[engine] = seconds
    if engine.dialect.name == "postgresql":
        bound_postgresql(engine, seconds)
    elif engine.dialect.name == "sqlite":
        bound_sqlite(engine, seconds)


def cancelled(error):
    """Whether an error is a read this module cut short: a statement the database cancelled, or a
    read of many statements past its deadline (ReadTooLong)."""
    if isinstance(error, ReadTooLong):
        return True
    orig = getattr(error, "orig", None)
    if orig is None:
        return False
    if getattr(orig, "sqlstate", None) == "57014":  # PostgreSQL's query_canceled
        return True
    return type(orig).__module__.startswith("sqlite3") and str(orig) == "interrupted"
