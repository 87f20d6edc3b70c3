"""Reading one page of a grid with portal.grid.query's statements: the deferred-join page, and a
grouped page walked group by group (small groups a page's worth at a time).

The request flows one way: the state (portal.grid.state) names the list, query composes its
statements, this module runs them and hands back a complete PageRead — rows, total, and every
group's size — from which portal.grid.page draws the page without asking the database again.
"""
from dataclasses import dataclass
from itertools import islice

from sqlalchemy import func, select

from portal.extensions import db
from portal.grid import query
from portal.grid.columns import Column
from portal.grid.query import COUNT_BOUND, PAGE_LIMIT, PAGE_OFFSET, execute
from portal.grid.state import capped_notice
from portal.grid.text import number
from portal.postgres import PLAN_PER_EXECUTION

_END = object()
# Groups walked one by one before the following are read a page's worth at a time: a page over
# two or three groups is quicker walked (prepared statements) than read together (planned each time).
WALK_ALONE = 3


@dataclass(frozen=True)
class PageRead:
    """A page as read: its rows (and one more when a next page exists: `has_next`), the size of each
    group on it ({value: (rows, exact)}; empty when not grouped), and the list's total (exact, or
    "more than" it)."""
    rows: list
    group_sizes: dict
    total: int
    exact: bool
    has_next: bool


class ListRead:
    """One request's list: the grid, its state and scope, and the statements that read it."""

    def __init__(self, grid, state, scope):
        self.grid, self.state, self.scope = grid, state, scope
        self.run = query.options(state)
        self.walked = bool(state.group) and _walkable(grid.by_key[state.group])
        # A walked group composes a statement per group from `matching`: those take the values.
        self.statements, self.params = query.statements(grid, state, scope, keep=not self.walked)

    def count(self, bound):
        """The matching rows, no further than bound + 1 (a count past the bound is remembered)."""
        key = query.count_key(self.grid, self.state, self.scope)
        return query.remembered_count(key, bound, lambda: query.count(self.statements.count(bound), self.run,
                                                                         self.params))

    def exact_count(self):
        return query.count(self.statements.count(None), self.run, self.params)

    def rows(self):
        """(rows of the page and one more, {group value: (rows, exact)} or None when not walked)."""
        if self.walked:
            return GroupedPage(self).read()
        # Deferred join: ORDER BY + OFFSET walk only the key (an index), then fetch the page's rows.
        state = self.state
        page = {**self.params, PAGE_LIMIT: state.per_page + 1, PAGE_OFFSET: (state.page - 1) * state.per_page}
        return execute(self.statements.page(self.grid, state), self.run, page).all(), None

    def group_sizes_on(self, rows):
        """{group value: (rows, True)} of the groups `rows` show, under the search and filters."""
        at = self.state.group
        seen = list(dict.fromkeys(getattr(row, at) for row in rows))
        return {value: (n, True) for value, n in group_counts(self.grid, self.state, self.scope, seen).items()}


# --- a page ---------------------------------------------------------------------------------

def read_page(grid, state, scope):
    """The PageRead of the state's page. A page past the end shows the last one, with a notice."""
    listing = ListRead(grid, state, scope)
    total = listing.count(query.COUNT_BOUND)
    exact = total <= query.COUNT_BOUND
    rows, sizes = listing.rows()
    if not rows and state.page > 1:
        # Past the end: show the last page that exists (an exact count only on this rare path).
        last = max(1, -(-listing.exact_count() // state.per_page))
        asked = max(state.page, state.asked_page or 0)
        state.notices.append(f"La página {number(asked)} no existe; se muestra la última ({number(last)}).")
        state.page = last
        rows, sizes = listing.rows()
    elif capped_notice(state):
        state.notices.append(capped_notice(state))
    has_next = len(rows) > state.per_page
    rows = rows[:state.per_page]
    if state.group and sizes is None:
        sizes = listing.group_sizes_on(rows) if rows else {}
    offset = (state.page - 1) * state.per_page
    if not exact:
        if has_next:
            total = max(query.COUNT_BOUND, offset + state.per_page)  # "más de" this many
        else:
            total, exact = offset + len(rows), True  # the last page tells the exact total
    return PageRead(rows, sizes or {}, total, exact, has_next)


def count(grid, state, scope, bound=COUNT_BOUND):
    """How many rows match, counting no further than bound + 1 (bound=None: exact)."""
    matching = query.keys(grid, query.where(grid, state, scope))
    return query.count(query.counting(matching, bound), query.options(state))


def group_counts(grid, state, scope, only=None):
    """{group value: rows} under the current search and filters; `only` limits the groups."""
    return query.group_counts(grid, state, scope, only)


def export_rows(grid, state, scope, engine=None):
    """The rows of the current search, filters, sort and visible columns, a chunk at a time, read
    through their own connection (`engine`, default the app's), streamed on PostgreSQL, so they
    need no application context while a response is being sent."""
    with (engine or db.engine).connect() as connection:
        # A streamed read is a server-side cursor, which psycopg never prepares: no plan option.
        streamed = connection.execution_options(stream_results=True, yield_per=query.CSV_CHUNK)
        yield from streamed.execute(query.export_statement(grid, state, scope)).partitions()


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


def _by_values(run):
    # Which groups an IN list names decides the plan (a generic one read every key of the desk):
    # planned with its values each time, as a search is (portal/postgres.py).
    return {**run, PLAN_PER_EXECUTION: True}


class GroupedPage:
    """The page of a grouped list, group by group, and each group's row count (bounded).

    Ordering by group then date cannot use one index (the directions differ, or the group's value
    lives in a joined table); each group alone can: WHERE group = value ORDER BY date walks
    (scope, group, date, id). Groups wholly before the page are counted (exactly: no further than
    the page's end) and skipped; the groups on the page are counted up to COUNT_BOUND.

    The first WALK_ALONE groups are walked so; a page they do not fill has small groups (a desk
    with many clients and few keys each), and three statements per group would add up to dozens:
    the following groups are then read a page's worth at a time (small_group_sizes, read_together).
    """

    def __init__(self, listing):
        grid, state = listing.grid, listing.state
        self.listing = listing
        self.matching = listing.statements.for_page
        self.group = grid.by_key[state.group]
        self.descending = state.descending if state.sort == state.group else False
        self.within = [grid.by_key[state.sort].ordered(state.descending),
                       grid.key.desc() if state.descending else grid.key.asc()]
        self.start = (state.page - 1) * state.per_page
        self.want = state.per_page + 1
        self.rows, self.sizes, self.position = [], {}, 0

    def read(self):
        """(rows of the page and one more, {group value: (rows, exact)})."""
        values = group_values(self, batch=self.want)
        for value in islice(values, WALK_ALONE):
            self.walk(value)
            if len(self.rows) >= self.want:
                return self.rows, self.sizes
        while len(self.rows) < self.want:
            batch = list(islice(values, self.want - len(self.rows)))
            if not batch:
                break
            self.read_batch(batch)
        return self.rows, self.sizes

    def read_batch(self, batch):
        # NULL's group comes first or last of all: never inside a batch, at most at its end.
        last_is_null = batch[-1] is None
        present = batch[:-1] if last_is_null else batch
        sizes = small_group_sizes(self.matching, self.group.expr, present, self.listing.run)
        if sizes is None:
            for value in present:  # a big group among them: each is walked
                if len(self.rows) < self.want:
                    self.walk(value)
        else:
            self.read_together(present, sizes)
        if last_is_null and len(self.rows) < self.want:
            self.walk(None)

    def walk(self, value):
        """Count one group (a candidate with no row under the filters counts 0 and is passed over)
        and, when it reaches the page, read its rows on it."""
        listing, expr = self.listing, self.group.expr
        members = self.matching.where(expr.is_(None) if value is None else expr == value)
        bound = max(query.COUNT_BOUND, self.start + self.want - self.position)
        key = query.count_key(listing.grid, listing.state, listing.scope, (listing.state.group, value))
        n = query.remembered_count(key, bound, lambda: query.count(query.counting(members, bound), listing.run))
        exact = n <= bound
        if not (exact and self.position + n <= self.start):
            page_keys = (members.with_only_columns(listing.grid.key).order_by(*self.within)
                         .limit(self.want - len(self.rows)).offset(max(0, self.start - self.position)))
            self._read_rows(page_keys, self.within, listing.run)
            self.sizes[value] = (min(n, bound), exact)
        self.position += n

    def read_together(self, values, sizes):
        """Skip the groups before the page, then read the rows of those on it in one statement."""
        need = self.want - len(self.rows)
        taken, offset, covered = [], None, 0
        for value in values:
            n = sizes.get(value, 0)
            if n and self.position + n <= self.start:
                self.position += n
            elif n and covered < need:
                skipped = max(0, self.start - self.position)
                offset = skipped if offset is None else offset
                covered += n - skipped
                taken.append(value)
                self.sizes[value] = (n, True)
                self.position += n
            elif n:
                break
        if taken:
            expr = self.group.expr
            ordered = [expr.desc() if self.descending else expr.asc(), *self.within]
            page_keys = (self.matching.where(expr.in_(taken)).with_only_columns(self.listing.grid.key)
                         .order_by(*ordered).limit(need).offset(offset))
            self._read_rows(page_keys, ordered, _by_values(self.listing.run))

    def _read_rows(self, page_keys, ordered, run):
        statement = query.rows_by_key(self.listing.grid, self.listing.state, page_keys, ordered)
        self.rows.extend(execute(statement, run).all())


def small_group_sizes(matching, expr, values, run):
    """{value: rows} of the groups `values` under the filters, exact, in one statement that reads no
    more than COUNT_BOUND + 1 rows; None when they hold more together (each is then walked)."""
    if not values:
        return {}
    bounded = (matching.where(expr.in_(values)).with_only_columns(expr.label("value"))
               .limit(query.COUNT_BOUND + 1).subquery())
    sizes = dict(execute(select(bounded.c.value, func.count()).group_by(bounded.c.value), _by_values(run)).all())
    return None if sum(sizes.values()) > query.COUNT_BOUND else sizes


def group_values(page, batch=1):
    """The candidate group values of a GroupedPage in order: one at a time (the next after the
    last) for the first WALK_ALONE, then `batch` at a time.

    Candidates come from the column's `group_values(**scope)`: the scope's values without the
    search and filters, which an index gives in order (the filters would make the database sort
    to find the next one). NULL comes first or last, if any row under the filters has it.
    """
    expr, grid, run = page.group.expr, page.listing.grid, page.listing.run
    nulls_first = _nulls_first(page.group, page.descending)
    with_nulls = page.matching.with_only_columns(grid.key).where(expr.is_(None)).limit(1)
    if nulls_first and execute(with_nulls, run).scalar() is not None:
        yield None
    candidate = page.group.group_values(**page.listing.scope).subquery().c[0]
    present = select(candidate).where(candidate.is_not(None))
    direction = candidate.desc() if page.descending else candidate.asc()
    value, read = None, 0
    while True:
        following = present if value is None else present.where(
            candidate < value if page.descending else candidate > value)
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
    if not nulls_first and execute(with_nulls, run).scalar() is not None:
        yield None
