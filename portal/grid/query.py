"""A grid's SQL: rows are never loaded into Python to be filtered, sorted or grouped.

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
from portal.grid.columns import Column, like_pattern, number
from portal.grid.state import capped_notice
from portal.postgres import PLAN_PER_EXECUTION

COUNT_BOUND = 10_000
COUNT_SECONDS = 30
_END = object()
_PAST_BOUND = weakref.WeakKeyDictionary()  # engine -> {count key: time}: counts known past their bound


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
    n = db.session.scalar(select(func.count()).select_from(ones.subquery()), execution_options=run or {})
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
    return {value: n for value, n in db.session.execute(query, execution_options=options(state)).all()}


# --- a page ----------------------------------------------------------------------------------

def read_page(grid, state, scope):
    """(rows, {group value: (rows, exact)} or None, total, exact, has_next) of the state's page."""
    run = options(state)
    conditions = where(grid, state, scope)
    matching_used = keys(grid, conditions, used(grid, state))
    matching = keys(grid, conditions)
    total = count(matching, COUNT_BOUND, count_key(grid, state, scope), run)
    exact = total <= COUNT_BOUND
    rows, counts = _page_rows(grid, state, matching_used, scope, run)
    if not rows and state.page > 1:
        # Past the end: show the last page that exists (an exact count only on this rare path).
        last = max(1, -(-count(matching, None, run=run) // state.per_page))
        asked = max(state.page, state.asked_page or 0)
        state.notices.append(f"La página {number(asked)} no existe; se muestra la última ({number(last)}).")
        state.page = last
        rows, counts = _page_rows(grid, state, matching_used, scope, run)
    elif capped_notice(state):
        state.notices.append(capped_notice(state))
    has_next = len(rows) > state.per_page
    rows = rows[:state.per_page]
    offset = (state.page - 1) * state.per_page
    if not exact:
        if has_next:
            total = max(COUNT_BOUND, offset + state.per_page)  # "más de" this many
        else:
            total, exact = offset + len(rows), True  # the last page tells the exact total
    return rows, counts, total, exact, has_next


def _selected(grid, state):
    """The visible columns, the group's column, and the hidden fields a row needs: nothing more."""
    picked = [grid.by_key[k].expr.label(k) for k in state.columns]
    if state.group and state.group not in state.columns:
        picked.append(grid.by_key[state.group].expr.label(state.group))
    return picked + [expr.label(name) for name, expr in grid.row.items()]


def _page_rows(grid, state, matching, scope, run):
    """(rows of the page and one more, {group value: (rows, exact)} or None when not walked)."""
    if state.group and _walkable(grid.by_key[state.group]):
        return _grouped_rows(grid, state, matching, scope, run)
    ordered = order(grid, state)
    # Deferred join: ORDER BY + OFFSET walk only the key (an index), then fetch the page's rows.
    page_keys = (matching.with_only_columns(grid.key).order_by(*ordered)
                 .limit(state.per_page + 1).offset((state.page - 1) * state.per_page))
    return _rows_by_key(grid, state, page_keys, ordered, run), None


def _rows_by_key(grid, state, page_keys, ordered, run):
    # Same FROM and joins, but no scope condition: the keys are already the desk's, and a
    # repeated scope would tempt the planner to walk the whole scope index again.
    page = (select(*_selected(grid, state)).select_from(grid.tables)
            .where(grid.key.in_(page_keys.scalar_subquery())).order_by(*ordered))
    return db.session.execute(page, execution_options=run).all()


# --- grouped pages: one group at a time ------------------------------------------------------

def _walkable(column):
    # Groups are walked value by value when the grid says where the values come from (an index
    # the database reads in order) and the column sorts by its own value (not, e.g., "50 Timbres"
    # by the number 50). Other lists are small enough for one ORDER BY.
    return column.group_values is not None and type(column).ordered is Column.ordered


def _nulls_first(column, descending):
    """Where the group of NULLs goes, as ORDER BY puts it (see Column.ordered)."""
    if column.nullable:
        return descending
    # Undeclared NULLs (an outer join) sort as each database does: PostgreSQL takes NULL as the
    # largest value, SQLite as the smallest.
    largest = db.session.get_bind().dialect.name == "postgresql"
    return descending if largest else not descending


def _grouped_rows(grid, state, matching, scope, run):
    """The page of a grouped list, group by group, and each group's row count (bounded).

    Ordering by group then date cannot use one index (the directions differ, or the group's value
    lives in a joined table); each group alone can: WHERE group = value ORDER BY date walks
    (scope, group, date, id). Groups wholly before the page are counted (exactly: no further than
    the page's end) and skipped; the groups on the page are counted up to COUNT_BOUND.
    """
    group = grid.by_key[state.group]
    expr = group.expr
    descending = state.descending if state.sort == state.group else False
    within = [grid.by_key[state.sort].ordered(state.descending),
              grid.key.desc() if state.descending else grid.key.asc()]
    start = (state.page - 1) * state.per_page
    want = state.per_page + 1
    rows, counts, position = [], {}, 0
    values = _group_values(grid, group, scope, matching, descending, run)
    while len(rows) < want:
        value = next(values, _END)
        if value is _END:
            break
        # A candidate with no row under the filters counts 0 and is passed over.
        members = matching.where(expr.is_(None) if value is None else expr == value)
        bound = max(COUNT_BOUND, start + want - position)
        n = count(members, bound, count_key(grid, state, scope, (state.group, value)), run)
        exact = n <= bound
        if exact and position + n <= start:
            position += n
            continue
        page_keys = (members.with_only_columns(grid.key).order_by(*within)
                     .limit(want - len(rows)).offset(max(0, start - position)))
        rows.extend(_rows_by_key(grid, state, page_keys, within, run))
        counts[value] = (min(n, bound), exact)
        position += n
    return rows, counts


def _group_values(grid, group, scope, matching, descending, run):
    """The candidate group values in order, read one at a time (the next after the last).

    Candidates come from the column's `group_values(**scope)`: the scope's values without the
    search and filters, which an index gives in order (the filters would make the database sort
    to find the next one). NULL comes first or last, if any row under the filters has it.
    """
    expr = group.expr
    nulls_first = _nulls_first(group, descending)

    def has_nulls():
        statement = matching.with_only_columns(grid.key).where(expr.is_(None)).limit(1)
        return db.session.scalar(statement, execution_options=run) is not None

    if nulls_first and has_nulls():
        yield None
    candidate = group.group_values(**scope).subquery().c[0]
    present = select(candidate).where(candidate.is_not(None))
    direction = candidate.desc() if descending else candidate.asc()
    value = None
    while True:
        following = present if value is None else present.where(candidate < value if descending else candidate > value)
        value = db.session.scalar(following.order_by(direction).limit(1))
        if value is None:
            break
        yield value
    if not nulls_first and has_nulls():
        yield None
