"""Units of work: what a block of code does with the database, named where the block begins.

- Work.READS: a page that only reads. On PostgreSQL each statement runs on its own (AUTOCOMMIT):
  the block sends no BEGIN and no ROLLBACK, two of a grid fragment's four round trips. Each
  statement still sees committed data; a page's count and rows may come from moments apart, as
  they may for a user who reloads. A single-statement write (a session's last use, the grid's
  remembered columns) is whole as ever. On SQLite a deferred BEGIN (WAL readers never wait).
- Work.TRANSACTION: one transaction that reads first and may write (a page that records what it
  showed). SQLite takes its write lock at the first write.
- Work.WRITES: one transaction that writes. SQLite takes the write lock at BEGIN (BEGIN IMMEDIATE):
  a deferred transaction that reads and then writes can be refused at once with "database is
  locked" when another process wrote in between, so check-then-act rules (claiming a key) would
  fail instead of queueing for the busy timeout.

Code outside any unit, and a connection taken from the engine itself (a CSV streamed after its
request), works as Work.TRANSACTION: whatever writes and must not be refused names Work.WRITES.
The session hands out an engine that carries the unit's mode (bind_for), and the engines'
listeners (portal.sqlite) begin accordingly.
"""
import enum
import weakref
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.orm import scoped_session


class Work(enum.Enum):
    READS = "reads"
    TRANSACTION = "transaction"
    WRITES = "writes"


# The execution option a connection carries its unit's mode in.
WORK_OPTION = "portal_work"
OUTSIDE_ANY_UNIT = Work.TRANSACTION

_current = ContextVar("portal_unit_of_work", default=OUTSIDE_ANY_UNIT)
_VARIANTS = weakref.WeakKeyDictionary()


class UnitAlreadyBegun(RuntimeError):
    """A unit of work was named after its session had begun a transaction in another mode."""


def current_work():
    """The mode of the unit of work this code runs in."""
    return _current.get()


def enter(session, work):
    """Begin a unit of `work` for `session`'s next transaction; returns what leave() takes.
    A unit is named before its first statement: a transaction already begun cannot change mode."""
    if isinstance(session, scoped_session):
        session = session()
    if session.in_transaction() and work is not current_work():
        raise UnitAlreadyBegun(f"a transaction had begun before this {work.value} unit was named")
    return _current.set(work)


def leave(token):
    """End the unit enter() began; the code after it works as before it."""
    _current.reset(token)


def leave_all():
    """End whatever unit this context is in: what follows works as outside any unit (a request's
    end, where the token of its beginning is not at hand)."""
    _current.set(OUTSIDE_ANY_UNIT)


@contextmanager
def unit_of_work(session, work):
    """`with unit_of_work(db.session, Work.WRITES):` the block's statements run in that mode. The
    block commits what it keeps; what it left uncommitted, or half-done by an error, is rolled
    back, so no transaction of the unit outlives it."""
    token = enter(session, work)
    try:
        yield
    finally:
        session.rollback()
        leave(token)


def bind_for(engine, work):
    """The engine the session uses in a unit of `work`: a variant of `engine` (sharing its pool and
    listeners) that carries the mode, with AUTOCOMMIT for PostgreSQL's reads. One variant per
    engine and mode: the session keeps one connection per bind, so a new variant per statement
    would take a new connection each time."""
    variants = _VARIANTS.get(engine)
    if variants is None:
        variants = _VARIANTS[engine] = {}
    variant = variants.get(work)
    if variant is None:
        options = {WORK_OPTION: work.value}
        if work is Work.READS and engine.dialect.name == "postgresql":
            options["isolation_level"] = "AUTOCOMMIT"
        variant = variants[work] = engine.execution_options(**options)
    return variant


def connection_work(connection):
    """The unit's mode a connection was handed out for."""
    return Work(connection.get_execution_options().get(WORK_OPTION, OUTSIDE_ANY_UNIT.value))
