"""A grid's SQL statements: conditions, order, keys, counts. Rows are never loaded into Python to
be filtered, sorted or grouped; reading a page with them is portal.grid.reading's.

A page is one bounded COUNT of the keys (a count past the bound remembered per process for a
while), one read of the page's keys (ORDER BY/OFFSET walk only the key's index) and one read of
those rows by key; grouped by a column that says where its values come from, the page is read one
group at a time. Counts and key pages name the joined tables only when a condition or the order
needs them. A statement holding a LIKE is planned with its words (PLAN_PER_EXECUTION).

Composing a page's statements (and SQLAlchemy keying them for its compiled cache) cost as much
as reading the page: a list whose values are all bound parameters (scope, date and number ranges,
choices; no search words) is composed once per shape and kept (`statements`).
"""
import time
import weakref

from sqlalchemy import Integer, bindparam, func, literal_column, or_, select
from sqlalchemy.sql.expression import ColumnClause, FromClause, ScalarSelect, SelectBase
from sqlalchemy.sql.functions import FunctionElement

from portal.extensions import db
from portal.grid.text import like_pattern
from portal.postgres import PLAN_PER_EXECUTION

COUNT_BOUND = 10_000
COUNT_SECONDS = 30
_PAST_BOUND = weakref.WeakKeyDictionary()  # engine -> {count key: time}: counts known past their bound
SHAPES_KEPT = 1000
_SHAPES = {}  # shape of a list -> its Statements, with bound parameters for every value
PAGE_LIMIT, PAGE_OFFSET = "grid_page_limit", "grid_page_offset"
CSV_CHUNK = 1000


def execute(statement, run=None, params=None):
    """`statement`'s result, on the session's connection without the ORM's result machinery: a
    grid selects columns, never mapped objects, and that machinery cost a page more than its read.
    `params`: the values of its bound parameters (Statements)."""
    return db.session.connection().execute(statement, params or None, execution_options=run or {})


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
    return conditions(grid, scope, state.words, state.filters)


def conditions(grid, scope, words, filters):
    """where()'s conditions from the scope's values, the folded words and {column key: filter value}."""
    if callable(grid.search) and not hasattr(grid.search, "like"):
        # The grid's own rule per folded word (e.g. one that an index can serve).
        searched = [grid.search(word, **scope) for word in words]
    else:
        searched = [grid.search.like(like_pattern(word), escape="\\") for word in words]
    filtered = [grid.by_key[key].filter.condition(grid.by_key[key], value) for key, value in filters.items()]
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


def counting(query, bound):
    """SELECT count(*) of `query`'s rows, no further than bound + 1 (bound=None: exact)."""
    ones = query.with_only_columns(literal_column("1"))
    if bound is not None:
        ones = ones.limit(bound + 1)
    return select(func.count()).select_from(ones.subquery())


def count(statement, run=None, params=None):
    """The number a counting statement (counting(), Statements.count) answers; `params`: the values
    of its bound parameters."""
    return execute(statement, run, params).scalar()


def remembered_count(key, bound, counted):
    """`counted()` (a count no further than bound + 1), unless a count under `key` went past the
    bound less than COUNT_SECONDS ago: "más de N" again costs nothing."""
    if bound is not None and _remembered(key + (bound,)):
        return bound + 1
    n = counted()
    if bound is not None and n > bound:
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


def export_statement(grid, state, scope):
    """The visible columns of the current search, filters and sort, labelled by key: the CSV's rows."""
    shown = [grid.by_key[k] for k in state.columns]
    return (filtered(grid, state, scope, [c.expr for c in shown])
            .with_only_columns(*[c.expr.label(c.key) for c in shown])
            .order_by(*order(grid, state)))


# --- a page's statements, composed once per shape ----------------------------------------------

def selected(grid, state):
    """The visible columns, the group's column, and the hidden fields a row needs: nothing more."""
    picked = [grid.by_key[k].expr.label(k) for k in state.columns]
    if state.group and state.group not in state.columns:
        picked.append(grid.by_key[state.group].expr.label(state.group))
    return picked + [expr.label(name) for name, expr in grid.row.items()]


def rows_by_key(grid, state, page_keys, ordered):
    """The rows of `page_keys` (a query of keys in order), with the columns the page shows."""
    # Same FROM and joins, but no scope condition: the keys are already the desk's, and a
    # repeated scope would tempt the planner to walk the whole scope index again.
    return (select(*selected(grid, state)).select_from(grid.tables)
            .where(grid.key.in_(page_keys.scalar_subquery())).order_by(*ordered))


class Statements:
    """A list's statements: the keys meeting its conditions (`matching`), the same from the tables
    its order reads (`for_page`), its bounded count and its page (limit and offset bound as
    PAGE_LIMIT, PAGE_OFFSET), the last two composed when first asked."""

    __slots__ = ("matching", "for_page", "_counts", "_page")

    def __init__(self, grid, state, conditions):
        self.matching = keys(grid, conditions)
        self.for_page = keys(grid, conditions, used(grid, state))
        self._counts, self._page = {}, None

    def count(self, bound):
        if bound not in self._counts:
            self._counts[bound] = counting(self.matching, bound)
        return self._counts[bound]

    def page(self, grid, state):
        if self._page is None:
            ordered = order(grid, state)
            page_keys = (self.for_page.with_only_columns(grid.key).order_by(*ordered)
                         .limit(bindparam(PAGE_LIMIT, type_=Integer))
                         .offset(bindparam(PAGE_OFFSET, type_=Integer)))
            self._page = rows_by_key(grid, state, page_keys, ordered)
        return self._page


def statements(grid, state, scope, keep=True):
    """(Statements, the values of their bound parameters) of the state's list.

    With `keep` and values that can all be bound parameters, they are composed once per shape (the
    scope's names, which filters with which bounds, sort, group, columns) and kept; otherwise
    (search words, a filter whose condition reads its value in Python) built for this request
    with its values, and the parameters are none but the page's.
    """
    filters = _bound_filters(grid, state.filters) if keep and not state.words else None
    if filters is None:
        return Statements(grid, state, where(grid, state, scope)), {}
    symbols, signature, params = filters
    shape = (grid, tuple(sorted(scope)), signature, state.sort, state.descending, state.group, tuple(state.columns))
    found = _SHAPES.get(shape)
    if found is None:
        on_scope = {name: bindparam(f"grid_scope_{name}") for name in scope}
        found = Statements(grid, state, conditions(grid, on_scope, (), symbols))
        if len(_SHAPES) >= SHAPES_KEPT:
            _SHAPES.clear()
        _SHAPES[shape] = found
    params.update((f"grid_scope_{name}", value) for name, value in scope.items())
    return found, params


def _bound_filters(grid, filters):
    """({column key: the filter's value as bound parameters}, the filters' shape, their values),
    or None when a filter reads its value in Python (Column filters' `bound`)."""
    symbols, signature, params = {}, [], {}
    for key, value in sorted(filters.items()):
        taken = grid.by_key[key].filter.bound(f"grid_filter_{key}", value)
        if taken is None:
            return None
        symbols[key], shape, values = taken
        signature.append((key, shape))
        params.update(values)
    return symbols, tuple(signature), params
