"""Reading one page of a grid with portal.grid.query's statements: the deferred-join page, and a
grouped page walked group by group (small groups a page's worth at a time).
"""
from itertools import islice

from sqlalchemy import func, select

from portal.extensions import db
from portal.grid.columns import Column
from portal.grid.text import number
from portal.grid import query
from portal.grid.query import PAGE_LIMIT, PAGE_OFFSET, count, count_key, execute, options, rows_by_key
from portal.grid.state import capped_notice
from portal.postgres import PLAN_PER_EXECUTION

_END = object()
# Groups walked one by one before the following are read a page's worth at a time: a page over
# two or three groups is quicker walked (prepared statements) than read together (planned each time).
WALK_ALONE = 3


# --- a page ---------------------------------------------------------------------------------

def read_page(grid, state, scope):
    """(rows, {group value: (rows, exact)} or None, total, exact, has_next) of the state's page."""
    run = options(state)
    walked = bool(state.group) and _walkable(grid.by_key[state.group])
    # A walked group composes a statement per group from `matching`: those take the values.
    statements, params = query.statements(grid, state, scope, keep=not walked)
    matching = statements.matching
    total = count(matching, query.COUNT_BOUND, count_key(grid, state, scope), run, params, statements)
    exact = total <= query.COUNT_BOUND
    rows, counts = _page_rows(grid, state, statements, params, scope, run, walked)
    if not rows and state.page > 1:
        # Past the end: show the last page that exists (an exact count only on this rare path).
        last = max(1, -(-count(matching, None, run=run, params=params, statements=statements) // state.per_page))
        asked = max(state.page, state.asked_page or 0)
        state.notices.append(f"La página {number(asked)} no existe; se muestra la última ({number(last)}).")
        state.page = last
        rows, counts = _page_rows(grid, state, statements, params, scope, run, walked)
    elif capped_notice(state):
        state.notices.append(capped_notice(state))
    has_next = len(rows) > state.per_page
    rows = rows[:state.per_page]
    offset = (state.page - 1) * state.per_page
    if not exact:
        if has_next:
            total = max(query.COUNT_BOUND, offset + state.per_page)  # "más de" this many
        else:
            total, exact = offset + len(rows), True  # the last page tells the exact total
    return rows, counts, total, exact, has_next


def _page_rows(grid, state, statements, params, scope, run, walked):
    """(rows of the page and one more, {group value: (rows, exact)} or None when not walked)."""
    if walked:
        return _grouped_rows(grid, state, statements.for_page, scope, run)
    # Deferred join: ORDER BY + OFFSET walk only the key (an index), then fetch the page's rows.
    page = {**params, PAGE_LIMIT: state.per_page + 1, PAGE_OFFSET: (state.page - 1) * state.per_page}
    return execute(statements.page(grid, state), run, page).all(), None


def _rows_by_key(grid, state, page_keys, ordered, run):
    return execute(rows_by_key(grid, state, page_keys, ordered), run).all()


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

    The first WALK_ALONE groups are walked so; a page they do not fill has small groups (a desk
    with many clients and few keys each), and three statements per group would add up to dozens:
    the following groups are then read a page's worth at a time (_small_group_sizes, read_together).
    """
    group = grid.by_key[state.group]
    expr = group.expr
    descending = state.descending if state.sort == state.group else False
    within = [grid.by_key[state.sort].ordered(state.descending),
              grid.key.desc() if state.descending else grid.key.asc()]
    start = (state.page - 1) * state.per_page
    want = state.per_page + 1
    rows, counts, position = [], {}, 0
    values = _group_values(grid, group, scope, matching, descending, run, batch=want)

    def walk(value, position):
        # A candidate with no row under the filters counts 0 and is passed over.
        members = matching.where(expr.is_(None) if value is None else expr == value)
        bound = max(query.COUNT_BOUND, start + want - position)
        n = count(members, bound, count_key(grid, state, scope, (state.group, value)), run)
        exact = n <= bound
        if exact and position + n <= start:
            return position + n
        page_keys = (members.with_only_columns(grid.key).order_by(*within)
                     .limit(want - len(rows)).offset(max(0, start - position)))
        rows.extend(_rows_by_key(grid, state, page_keys, within, run))
        counts[value] = (min(n, bound), exact)
        return position + n

    def read_together(values, sizes, position):
        # Skip the groups before the page, then read the rows of those on it in one statement.
        need = want - len(rows)
        taken, offset, covered = [], None, 0
        for value in values:
            n = sizes.get(value, 0)
            if n == 0:
                continue
            if position + n <= start:
                position += n
                continue
            if covered >= need:
                break
            skipped = max(0, start - position)
            offset = skipped if offset is None else offset
            covered += n - skipped
            taken.append(value)
            counts[value] = (n, True)
            position += n
        if taken:
            ordered = [expr.desc() if descending else expr.asc(), *within]
            page_keys = (matching.where(expr.in_(taken)).with_only_columns(grid.key).order_by(*ordered)
                         .limit(need).offset(offset))
            rows.extend(_rows_by_key(grid, state, page_keys, ordered, _by_values(run)))
        return position

    walked = 0
    while len(rows) < want:
        if walked < WALK_ALONE:
            value = next(values, _END)
            if value is _END:
                break
            walked += 1
            position = walk(value, position)
            continue
        batch = list(islice(values, want - len(rows)))
        if not batch:
            break
        # NULL's group comes first or last of all: never inside a batch, at most at its end.
        last_is_null = batch[-1] is None
        present = batch[:-1] if last_is_null else batch
        sizes = _small_group_sizes(matching, expr, present, run)
        if sizes is None:
            for value in present:  # a big group among them: each is walked
                if len(rows) < want:
                    position = walk(value, position)
        else:
            position = read_together(present, sizes, position)
        if last_is_null and len(rows) < want:
            position = walk(None, position)
    return rows, counts


def _small_group_sizes(matching, expr, values, run):
    """{value: rows} of the groups `values` under the filters, exact, in one statement that reads no
    more than COUNT_BOUND + 1 rows; None when they hold more together (each is then walked)."""
    if not values:
        return {}
    bounded = (matching.where(expr.in_(values)).with_only_columns(expr.label("value"))
               .limit(query.COUNT_BOUND + 1).subquery())
    sizes = dict(execute(select(bounded.c.value, func.count()).group_by(bounded.c.value), _by_values(run)).all())
    return None if sum(sizes.values()) > query.COUNT_BOUND else sizes


def _by_values(run):
    # Which groups an IN list names decides the plan (a generic one read every key of the desk):
    # planned with its values each time, as a search is (portal/postgres.py).
    return {**run, PLAN_PER_EXECUTION: True}


def _group_values(grid, group, scope, matching, descending, run, batch=1):
    """The candidate group values in order: one at a time (the next after the last) for the first
    WALK_ALONE, then `batch` at a time.

    Candidates come from the column's `group_values(**scope)`: the scope's values without the
    search and filters, which an index gives in order (the filters would make the database sort
    to find the next one). NULL comes first or last, if any row under the filters has it.
    """
    expr = group.expr
    nulls_first = _nulls_first(group, descending)

    def has_nulls():
        statement = matching.with_only_columns(grid.key).where(expr.is_(None)).limit(1)
        return execute(statement, run).scalar() is not None

    if nulls_first and has_nulls():
        yield None
    candidate = group.group_values(**scope).subquery().c[0]
    present = select(candidate).where(candidate.is_not(None))
    direction = candidate.desc() if descending else candidate.asc()
    value, read = None, 0
    while True:
        following = present if value is None else present.where(candidate < value if descending else candidate > value)
        many = batch if read >= WALK_ALONE else 1
        # Candidates may repeat (a status per key): the rows come in order, so repeats are
        # neighbours, and DISTINCT would make the database read them all to find `many`.
        found = execute(following.order_by(direction).limit(many)).scalars().all()
        distinct = list(dict.fromkeys(found))
        yield from distinct
        read += len(distinct)
        if len(found) < many:
            break
        value = found[-1]
    if not nulls_first and has_nulls():
        yield None
