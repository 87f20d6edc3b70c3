"""Reading a grid's list: the deferred-join page, a grouped page walked group by group (small
groups a page's worth at a time), and the CSV's rows.

The request flows one way: the state (portal.grid.state) names the list, query composes its
Statements (asked once, here), this module runs them and hands back a complete PageRead — rows,
total, and every group's size — from which portal.grid.page draws the page without asking the
database again. Only this module of the grid runs statements.
"""
import time
import weakref
from dataclasses import dataclass
from itertools import islice

from portal import deadlines
from portal.deadlines import UNBOUNDED
from portal.extensions import db
from portal.grid import query
from portal.grid.columns import Column
from portal.grid.query import COUNT_BOUND, PAGE_LIMIT, PAGE_OFFSET
from portal.grid.state import capped_notice
from portal.grid.text import number
from portal.postgres import PLAN_PER_EXECUTION

CSV_CHUNK = 1000
PLAN_EACH_TIME, PREPARED = {PLAN_PER_EXECUTION: True}, {}
COUNT_SECONDS = 30
_PAST_BOUND = weakref.WeakKeyDictionary()  # engine -> {count key: time}: counts known past their bound
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


def read(grid, state, scope):
    """What the state asks of the list: the PageRead of its page, or for ?formato=csv the CSV's
    rows, a chunk at a time, read through a connection of their own (streamed on PostgreSQL), so
    they need no application context while a response is being sent."""
    listing = ListRead(grid, state, scope)
    if state.export:
        return listing.export_rows(db.engine)
    return listing.page()


def count(grid, state, scope, bound=COUNT_BOUND):
    """How many rows match, counting no further than bound + 1 (bound=None: exact)."""
    return ListRead(grid, state, scope).count(bound, remembered=False)


def group_counts(grid, state, scope, only=None):
    """{group value: rows} under the current search and filters; `only` limits the groups."""
    return dict(ListRead(grid, state, scope).group_counts(only))


def forget_counts():
    """Forget every remembered count (bench.explain shows each count's plan)."""
    _PAST_BOUND.clear()


class ListRead:
    """One request's list: the grid, its state and scope, the Statements that read it and the
    values of their bound parameters."""

    def __init__(self, grid, state, scope):
        self.grid, self.state, self.scope = grid, state, scope
        self.run = query.options(state)
        self.walked = bool(state.group) and _walkable(grid.by_key[state.group])
        # A walked group composes a statement per group from `for_page`: those take the values.
        self.statements, self.params = query.statements(grid, state, scope, keep=not self.walked)
        # The read as a whole is bounded too: a walk over thousands of small groups is thousands of
        # quick statements (deadlines.ReadTooLong, answered as a statement cancelled).
        self.deadline = deadlines.read_deadline(db.engine)

    def execute(self, statement, params=None, plan=None):
        """`statement`'s result, on the session's connection without the ORM's result machinery: a
        grid selects columns, never mapped objects, and that machinery cost a page more than its
        read. `plan`: None as the list's statements are planned (query.options), or PLAN_EACH_TIME
        (with its values, portal/postgres.py) or PREPARED."""
        deadlines.check(self.deadline)
        run = self.run if plan is None else plan
        return db.session.connection().execute(statement, self.values(params), execution_options=run)

    def values(self, more=None):
        """The values of the statements' bound parameters (with `more`, a page's), or None."""
        return {**self.params, **(more or {})} or None

    def count(self, bound, group=(), remembered=True):
        """The matching rows (of one `group`: (value,)), no further than bound + 1. A count past
        the bound is remembered for COUNT_SECONDS: "más de N" again costs nothing."""
        key = self._count_key(group) + (bound,)
        if remembered and bound is not None and _remembered(key):
            return bound + 1
        if group:
            statement = query.counting(self.statements.group_members(self.state, group[0]), bound)
        else:
            statement = self.statements.count(bound)
        n = self.execute(statement).scalar()
        if remembered and bound is not None and n > bound:
            _remember(key)
        return n

    def _count_key(self, group):
        # What a count depends on: the grid, the scope, the search and the filters (not sort or
        # page), and for a group's count the group.
        filters = tuple(sorted((k, repr(v)) for k, v in self.state.filters.items()))
        of = (self.state.group, *group) if group else ()
        return (self.grid.name, tuple(sorted(self.scope.items())), self.state.words, filters, of)

    def group_counts(self, only=None):
        return self.execute(self.statements.group_counts(self.state, only)).all()

    def page(self):
        """The PageRead of the state's page. A page past the end shows the last one, with a notice."""
        state = self.state
        total = self.count(query.COUNT_BOUND)
        exact = total <= query.COUNT_BOUND
        rows, sizes = self.rows()
        if not rows and state.page > 1:
            # Past the end: show the last page that exists (an exact count only on this rare path).
            last = max(1, -(-self.count(None) // state.per_page))
            asked = max(state.page, state.asked_page or 0)
            state.notices.append(f"La página {number(asked)} no existe; se muestra la última ({number(last)}).")
            state.page = last
            rows, sizes = self.rows()
        elif capped_notice(state):
            state.notices.append(capped_notice(state))
        has_next = len(rows) > state.per_page
        rows = rows[:state.per_page]
        if state.group and sizes is None:
            seen = list(dict.fromkeys(getattr(row, state.group) for row in rows))
            sizes = {value: (n, True) for value, n in self.group_counts(seen)} if rows else {}
        offset = (state.page - 1) * state.per_page
        if not exact:
            if has_next:
                total = max(query.COUNT_BOUND, offset + state.per_page)  # "más de" this many
            else:
                total, exact = offset + len(rows), True  # the last page tells the exact total
        return PageRead(rows, sizes or {}, total, exact, has_next)

    def rows(self):
        """(rows of the page and one more, {group value: (rows, exact)} or None when not walked)."""
        if self.walked:
            return GroupedPage(self).read()
        # Deferred join: ORDER BY + OFFSET walk only the key (an index), then fetch the page's rows.
        state = self.state
        page = {PAGE_LIMIT: state.per_page + 1, PAGE_OFFSET: (state.page - 1) * state.per_page}
        return self.execute(self.statements.page(state), page).all(), None

    def export_rows(self, engine):
        statement = self.statements.export(self.state)
        with engine.connect() as connection:
            # A streamed read is a server-side cursor, which psycopg never prepares: no plan option.
            # It runs as long as it has rows (UNBOUNDED: portal/deadlines.py).
            streamed = connection.execution_options(stream_results=True, yield_per=CSV_CHUNK, **{UNBOUNDED: True})
            yield from streamed.execute(statement, self.values()).partitions()


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


class GroupedPage:
    """The page of a grouped list, group by group, and each group's row count (bounded).

    Ordering by group then date cannot use one index (the directions differ, or the group's value
    lives in a joined table); each group alone can: WHERE group = value ORDER BY date walks
    (scope, group, date, id). Groups wholly before the page are counted (exactly: no further than
    the page's end) and skipped; the groups on the page are counted up to COUNT_BOUND.

    The first WALK_ALONE groups are walked so; a page they do not fill has small groups (a desk
    with many clients and few keys each), and three statements per group would add up to dozens:
    the following groups are then read a page's worth at a time (small_group_sizes, read_together).
    Which groups an IN list names decides its plan (a generic one read every key of the desk): those
    statements are planned with their values each time, as a search is.
    """

    def __init__(self, listing):
        grid, state = listing.grid, listing.state
        self.listing, self.statements = listing, listing.statements
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
        sizes = self.small_group_sizes(present)
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
        listing = self.listing
        bound = max(query.COUNT_BOUND, self.start + self.want - self.position)
        n = listing.count(bound, group=(value,))
        exact = n <= bound
        if not (exact and self.position + n <= self.start):
            page_keys = (self.statements.group_members(listing.state, value).with_only_columns(listing.grid.key)
                         .order_by(*self.within).limit(self.want - len(self.rows))
                         .offset(max(0, self.start - self.position)))
            self._read_rows(page_keys, self.within, None)
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
            page_keys = self.statements.groups_page(self.listing.state, taken, ordered).limit(need).offset(offset)
            self._read_rows(page_keys, ordered, PLAN_EACH_TIME)

    def small_group_sizes(self, values):
        """{value: rows} of the groups `values` under the filters, exact, in one statement that
        reads no more than COUNT_BOUND + 1 rows; None when they hold more together (each is then
        walked)."""
        if not values:
            return {}
        statement = self.statements.group_sizes(self.listing.state, values)
        sizes = dict(self.listing.execute(statement, plan=PLAN_EACH_TIME).all())
        return None if sum(sizes.values()) > query.COUNT_BOUND else sizes

    def has_nulls(self):
        return self.listing.execute(self.statements.with_nulls(self.listing.state)).scalar() is not None

    def _read_rows(self, page_keys, ordered, plan):
        statement = self.statements.rows_of(self.listing.state, page_keys, ordered)
        self.rows.extend(self.listing.execute(statement, plan=plan).all())


def group_values(page, batch=1):
    """The candidate group values of a GroupedPage in order: one at a time (the next after the
    last) for the first WALK_ALONE, then `batch` at a time.

    Candidates come from the column's `group_values(**scope)`: the scope's values without the
    search and filters, which an index gives in order (the filters would make the database sort
    to find the next one). NULL comes first or last, if any row under the filters has it.
    """
    nulls_first = _nulls_first(page.group, page.descending)
    if nulls_first and page.has_nulls():
        yield None
    value, read = None, 0
    while True:
        many = batch if read >= WALK_ALONE else 1
        # Candidates may repeat (a status per key): the rows come in order, so repeats are
        # neighbours, and DISTINCT would make the database read them all to find `many`.
        statement = page.statements.next_groups(page.listing.state, value, many)
        found = page.listing.execute(statement, plan=PREPARED).scalars().all()
        distinct = list(dict.fromkeys(found))
        yield from distinct
        read += len(distinct)
        if len(found) < many:
            break
        value = found[-1]
    if not nulls_first and page.has_nulls():
        yield None
