"""A grid's SQL statements: conditions, order, keys, counts. Rows are never loaded into Python to
be filtered, sorted or grouped; reading a page with them is portal.grid.reading's.

A page is one bounded COUNT of the keys (a count past the bound remembered per process for a
while), one read of the page's keys (ORDER BY/OFFSET walk only the key's index) and one read of
those rows by key; grouped by a column that says where its values come from, the page is read one
group at a time. Counts and key pages name the joined tables only when a condition or the order
needs them. A statement holding a LIKE is planned with its words (PLAN_PER_EXECUTION).
"""
import time
import weakref

from sqlalchemy import func, literal_column, or_, select
from sqlalchemy.sql.expression import ColumnClause, FromClause, ScalarSelect, SelectBase
from sqlalchemy.sql.functions import FunctionElement

from portal.extensions import db
from portal.grid.columns import like_pattern
from portal.postgres import PLAN_PER_EXECUTION

COUNT_BOUND = 10_000
COUNT_SECONDS = 30
_PAST_BOUND = weakref.WeakKeyDictionary()  # engine -> {count key: time}: counts known past their bound


def execute(statement, run=None):
    """`statement`'s result, on the session's connection without the ORM's result machinery: a
    grid selects columns, never mapped objects, and that machinery cost a page more than its read."""
    return db.session.connection().execute(statement, execution_options=run or {})


def options(state):
    """A statement's execution options: how many rows a LIKE matches decides its best plan, so
    PostgreSQL plans a statement holding one with its words every time (portal/postgres.py)."""
    return {PLAN_PER_EXECUTION: True} if state.searches_text else {}


def forget_counts():
    """Forget every remembered count (bench.explain shows each count's plan)."""
    _PAST_BOUND.clear()


def _remembered(key):
    # A list past its bound stays past it unless rows leave it (keys are never deleted; a status
    # may change): for COUNT_SECONDS the "más de N" is taken as known. Counts within the bound,
    # the ones a user reads as exact numbers, are never remembered.
    at = _PAST_BOUND.get(db.engine, {}).get(key)
    return at is not None and time.monotonic() - at < COUNT_SECONDS


def _remember(key):
    known = _PAST_BOUND.setdefault(db.engine, {})
    if len(known) > 10_000:
        known.clear()
    known[key] = time.monotonic()


def _tables_named(*clauses):
    """The tables whose columns `clauses` use, not counting those inside subqueries (own FROM)."""
    found, pending = set(), list(clauses)
    while pending:
        element = pending.pop()
        if hasattr(element, "__clause_element__"):  # an ORM attribute: its column
            element = element.__clause_element__()
        # A subquery has its own FROM; a SQL function (lower(...)) is a FromClause too, but its
        # arguments are this query's columns.
        if isinstance(element, (SelectBase, ScalarSelect)) or (
                isinstance(element, FromClause) and not isinstance(element, FunctionElement)):
            continue
        if isinstance(element, ColumnClause) and element.table is not None:
            found.add(element.table)
        pending.extend(element.get_children())
    return found


# --- conditions, order, the keys' query ------------------------------------------------------

def where(grid, state, scope):
    """The scope's conditions, each search word's and each filter's. Build once per page: a
    search's subqueries are not cheap to build."""
    if callable(grid.search) and not hasattr(grid.search, "like"):
        # The grid's own rule per folded word (e.g. one that an index can serve).
        searched = [grid.search(word, **scope) for word in state.words]
    else:
        searched = [grid.search.like(like_pattern(word), escape="\\") for word in state.words]
    filtered = [grid.by_key[key].filter.condition(grid.by_key[key], value) for key, value in state.filters.items()]
    return [*grid.scope(**scope), *searched, *filtered]


def order(grid, state):
    column = grid.by_key[state.sort]
    ordered = []
    if state.group:
        group = grid.by_key[state.group]
        ordered.append(group.ordered(state.descending if group is column else False))
    ordered.append(column.ordered(state.descending))
    ordered.append(grid.key.desc() if state.descending else grid.key.asc())
    return ordered


def used(grid, state, shown=()):
    """The columns the order (and the group, and `shown`) read: they may need another table."""
    return [grid.by_key[state.sort].expr, *shown] + ([grid.by_key[state.group].expr] if state.group else [])


def keys(grid, conditions, used=()):
    """The keys of the rows meeting `conditions`, from the key's table alone when `conditions`
    and `used` name no other table, else from the grid's joins. A count passes nothing in `used`.

    PostgreSQL keeps the join column as needed even when it removes an outer join, and so cannot
    count with an index-only scan over an index without it.
    """
    base = grid.key.table
    tables = base if _tables_named(*conditions, *used) <= {base} else grid.tables
    return select(grid.key).select_from(tables).where(*conditions)


def filtered(grid, state, scope, shown=()):
    """The scoped query with the search and filters applied (columns still to be chosen)."""
    return keys(grid, where(grid, state, scope), used(grid, state, shown))


def count(query, bound, key=None, run=None):
    """Rows of `query`, no further than bound + 1 (bound=None: exact). With a `key`, a count that
    went past the bound is remembered for COUNT_SECONDS: "más de N" again costs nothing."""
    if key is not None and bound is not None and _remembered(key + (bound,)):
        return bound + 1
    ones = query.with_only_columns(literal_column("1"))
    if bound is not None:
        ones = ones.limit(bound + 1)
    n = execute(select(func.count()).select_from(ones.subquery()), run).scalar()
    if key is not None and bound is not None and n > bound:
        _remember(key + (bound,))
    return n


def count_key(grid, state, scope, *more):
    """What a count depends on: the grid, the scope, the search and the filters (not sort or page)."""
    filters = tuple(sorted((k, repr(v)) for k, v in state.filters.items()))
    return (grid.name, tuple(sorted(scope.items())), state.words, filters, *more)


def group_counts(grid, state, scope, only=None):
    """{group value: rows} under the current search and filters; `only` limits the groups."""
    group = grid.by_key[state.group].expr
    query = filtered(grid, state, scope).with_only_columns(group, func.count()).group_by(group)
    if only is not None:
        present = [v for v in only if v is not None]
        alternatives = [group.in_(present)] if present else []
        if None in only:
            alternatives.append(group.is_(None))
        query = query.where(or_(*alternatives))
    return {value: n for value, n in execute(query, options(state)).all()}
