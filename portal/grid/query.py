"""A grid's SQL statements: conditions, order, keys, counts. Rows are never loaded into Python to
be filtered, sorted or grouped. This module composes; running the statements is
portal.grid.reading's, which asks for a list's Statements once and composes nothing itself.

A page is one bounded COUNT of the keys (a count past the bound remembered per process for a
while), one read of the page's keys (ORDER BY/OFFSET walk only the key's index) and one read of
those rows by key; grouped by a column that says where its values come from, the page is read one
group at a time. Counts and key pages name the joined tables only when a condition or the order
needs them. A statement holding a LIKE is planned with its words (PLAN_PER_EXECUTION).

Composing a page's statements (and SQLAlchemy keying them for its compiled cache) cost as much
as reading the page: a list whose values are all bound parameters (scope, date and number ranges,
choices; no search words) is composed once per shape and kept (`statements`).
"""
from sqlalchemy import Integer, bindparam, func, literal_column, or_, select
from sqlalchemy.sql.expression import ColumnClause, FromClause, ScalarSelect, SelectBase
from sqlalchemy.sql.functions import FunctionElement

from portal.grid.text import like_pattern
from portal.postgres import PLAN_PER_EXECUTION

COUNT_BOUND = 10_000
SHAPES_KEPT = 1000
_SHAPES = {}  # shape of a list -> its Statements, with bound parameters for every value
PAGE_LIMIT, PAGE_OFFSET = "grid_page_limit", "grid_page_offset"


def options(state):
    """A statement's execution options: how many rows a LIKE matches decides its best plan, so
    PostgreSQL plans a statement holding one with its words every time (portal/postgres.py)."""
    return {PLAN_PER_EXECUTION: True} if state.searches_text else {}


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


def counting(query, bound):
    """SELECT count(*) of `query`'s rows, no further than bound + 1 (bound=None: exact)."""
    ones = query.with_only_columns(literal_column("1"))
    if bound is not None:
        ones = ones.limit(bound + 1)
    return select(func.count()).select_from(ones.subquery())


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
    """A list's statements, from the conditions of its scope, search and filters: the keys meeting
    them (`matching`), the same from the tables its order reads (`for_page`), and what reading a
    page, its groups or its CSV asks, composed when first asked. The page's limit and offset are
    bound as PAGE_LIMIT, PAGE_OFFSET. Kept per shape (statements()): nothing here reads a
    request's values, which come as bound parameters."""

    __slots__ = ("grid", "conditions", "scope", "matching", "for_page", "_counts", "_page")

    def __init__(self, grid, state, conditions, scope):
        # `scope`: the scope's values, or (kept) the bound parameters that stand for them.
        self.grid, self.conditions, self.scope = grid, conditions, scope
        self.matching = keys(grid, conditions)
        self.for_page = keys(grid, conditions, used(grid, state))
        self._counts, self._page = {}, None

    def count(self, bound):
        """The matching rows, no further than bound + 1 (bound=None: exact)."""
        if bound not in self._counts:
            self._counts[bound] = counting(self.matching, bound)
        return self._counts[bound]

    def page(self, state):
        """The rows of the page at PAGE_OFFSET, PAGE_LIMIT of them, in the state's order."""
        if self._page is None:
            ordered = order(self.grid, state)
            page_keys = (self.for_page.with_only_columns(self.grid.key).order_by(*ordered)
                         .limit(bindparam(PAGE_LIMIT, type_=Integer))
                         .offset(bindparam(PAGE_OFFSET, type_=Integer)))
            self._page = rows_by_key(self.grid, state, page_keys, ordered)
        return self._page

    def group_counts(self, state, only=None):
        """(group value, rows) under the search and filters; `only` limits the groups."""
        group = self.grid.by_key[state.group].expr
        query = self.for_page.with_only_columns(group, func.count()).group_by(group)
        if only is not None:
            present = [v for v in only if v is not None]
            alternatives = [group.in_(present)] if present else []
            if None in only:
                alternatives.append(group.is_(None))
            query = query.where(or_(*alternatives))
        return query

    def export(self, state):
        """The visible columns, labelled by key, in the state's order: the CSV's rows."""
        shown = [self.grid.by_key[k] for k in state.columns]
        return (keys(self.grid, self.conditions, used(self.grid, state, [c.expr for c in shown]))
                .with_only_columns(*[c.expr.label(c.key) for c in shown])
                .order_by(*order(self.grid, state)))

    def group_members(self, state, value):
        """The keys of one group (value None: the group of rows without a value)."""
        expr = self.grid.by_key[state.group].expr
        return self.for_page.where(expr.is_(None) if value is None else expr == value)

    def groups_page(self, state, values, ordered):
        """The keys of the groups `values`, in `ordered`."""
        expr = self.grid.by_key[state.group].expr
        return self.for_page.where(expr.in_(values)).with_only_columns(self.grid.key).order_by(*ordered)

    def group_sizes(self, state, values):
        """(value, rows) of the groups `values`, reading no more than COUNT_BOUND + 1 rows in all."""
        expr = self.grid.by_key[state.group].expr
        bounded = (self.for_page.where(expr.in_(values)).with_only_columns(expr.label("value"))
                   .limit(COUNT_BOUND + 1).subquery())
        return select(bounded.c.value, func.count()).group_by(bounded.c.value)

    def with_nulls(self, state):
        """A key of a row without a group value, if any."""
        expr = self.grid.by_key[state.group].expr
        return self.for_page.with_only_columns(self.grid.key).where(expr.is_(None)).limit(1)

    def rows_of(self, state, page_keys, ordered):
        return rows_by_key(self.grid, state, page_keys, ordered)

    def next_groups(self, state, after, many):
        """The next `many` candidate values of the group column after `after` (None: the first), in
        the group's order, from the column's `group_values` (an index gives them in order); they
        may repeat, as neighbours."""
        candidate = self.grid.by_key[state.group].group_values(**self.scope).subquery().c[0]
        descending = state.descending if state.sort == state.group else False
        following = select(candidate).where(candidate.is_not(None))
        if after is not None:
            following = following.where(candidate < after if descending else candidate > after)
        return following.order_by(candidate.desc() if descending else candidate.asc()).limit(many)


def statements(grid, state, scope, keep=True):
    """(Statements, the values of their bound parameters) of the state's list.

    With `keep` and values that can all be bound parameters, they are composed once per shape (the
    scope's names, which filters with which bounds, sort, group, columns) and kept; otherwise
    (search words, a filter whose condition reads its value in Python) built for this request
    with its values, and the parameters are none but the page's.
    """
    filters = _bound_filters(grid, state.filters) if keep and not state.words else None
    if filters is None:
        return Statements(grid, state, where(grid, state, scope), scope), {}
    symbols, signature, params = filters
    shape = (grid, tuple(sorted(scope)), signature, state.sort, state.descending, state.group, tuple(state.columns))
    found = _SHAPES.get(shape)
    if found is None:
        on_scope = {name: bindparam(f"grid_scope_{name}") for name in scope}
        found = Statements(grid, state, conditions(grid, on_scope, (), symbols), on_scope)
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
