"""A grid and what it shows: `Grid` (the declaration), `GridPage` (one page's lines, total, pager,
links), and the CSV of the current search, filters, sort and visible columns.

Row cells are rendered here into one string per row: a template loop per cell costs more than
the query.
"""
import csv
import io
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache, partial
from urllib.parse import quote_plus

from markupsafe import Markup
from werkzeug.datastructures import iter_multi_items

from portal.deadlines import UNBOUNDED
from portal.extensions import db
from portal.grid import query, reading, state as parsing
from portal.grid.text import html_text, number

CSV_CHUNK = 1000
QUERY_SAFE = "!$'()*,/:;?@"  # left unquoted in query strings, as Werkzeug's url_for does


class Grid:
    """One list of the portal (see the package's docstring for a declaration)."""

    def __init__(self, name, *, columns, tables, scope, key, default_sort, search=None, row=None,
                 per_page=25, row_actions=None, empty="No hay elementos que mostrar."):
        self.name = name
        self.dom_id = "grid-" + name
        self.columns = list(columns)
        self.by_key = {c.key: c for c in self.columns}
        self.tables = tables
        self.scope = scope
        self.key = key
        self.search = search
        self.default_sort = default_sort
        self.per_page = per_page
        self.row_actions = row_actions
        self.empty = empty
        self.row = {"id": key, **(row or {})}
        clash = set(self.row) & set(self.by_key)
        if clash or len(self.by_key) != len(self.columns):
            raise ValueError(f"grid {name}: repeated names {sorted(clash)}")
        if default_sort.lstrip("-") not in self.by_key:
            raise ValueError(f"grid {name}: default_sort {default_sort!r} is not a column")
        self.defaults = [c.key for c in self.columns if c.visible]

    def parse(self, args, saved_columns=None):
        """The state the query string asks for; every bad value becomes a default and a notice."""
        return parsing.parse(self, args, saved_columns)

    def fetch(self, state, cells=None, **scope):
        """The page the state asks for: rows, bounded total, group headers with their counts.
        `cells`: the request's values that columns' `html` take (Column.html_args)."""
        rows, counts, total, exact, has_next = reading.read_page(self, state, scope)
        shown = [self.by_key[k] for k in state.columns]
        lines = _lines(self, state, rows, shown, counts, scope, cells or {})
        return GridPage(self, state, shown, lines, total, exact, has_next)

    def count(self, state, bound=query.COUNT_BOUND, **scope):
        """How many rows match, counting no further than bound + 1 (bound=None: exact)."""
        return query.count(query.keys(self, query.where(self, state, scope)), bound, run=query.options(state))

    def group_counts(self, state, only=None, **scope):
        """{group value: rows} under the current search and filters; `only` limits the groups."""
        return query.group_counts(self, state, scope, only)

    def export(self, state, engine=None, **scope):
        """The CSV of the current search, filters, sort and visible columns, in chunks of text.

        Reads through its own connection (`engine`, default the app's), streaming on PostgreSQL.
        It runs as long as it has rows (UNBOUNDED: portal/deadlines.py).
        """
        shown = [self.by_key[k] for k in state.columns]
        statement = (query.filtered(self, state, scope, [c.expr for c in shown])
                     .with_only_columns(*[c.expr.label(c.key) for c in shown])
                     .order_by(*query.order(self, state)))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([c.label for c in shown])
        yield "\ufeff" + buffer.getvalue()
        formats = [c.csv for c in shown]
        with (engine or db.engine).connect() as connection:
            # A streamed read is a server-side cursor, which psycopg never prepares: no plan option.
            streamed = connection.execution_options(stream_results=True, yield_per=CSV_CHUNK, **{UNBOUNDED: True})
            for rows in streamed.execute(statement).partitions():
                buffer.seek(0)
                buffer.truncate()
                writer.writerows([[fmt(value) for fmt, value in zip(formats, row)] for row in rows])
                yield buffer.getvalue()


class Line:
    """One line of the table body: a group header, or a row and its cells' HTML (<td>…</td>…)."""

    __slots__ = ("group", "row", "cells_html")

    def __init__(self, group=None, row=None, cells_html=None):
        self.group, self.row, self.cells_html = group, row, cells_html


def _lines(grid, state, rows, shown, counts, scope, cells):
    def renderer(column):
        missing = set(column.html_args) - set(cells)
        if missing:
            raise TypeError(f"grid {grid.name}: column {column.key} needs cells={sorted(missing)}")
        wanted = {name: cells[name] for name in column.html_args}
        return partial(column.cell, **wanted) if wanted else column.cell

    # data-label: a phone shows each cell as "Etiqueta: valor" (CSS ::before), the header being hidden.
    cells_of = [(c.key, renderer(c), f'{c.css} data-label="{html_text(c.label)}"') for c in shown]
    if not rows:
        return []
    # Values by position: a row's mapping would be built anew for each row that asks for it.
    fields = rows[0]._fields
    cells_of = [(fields.index(key), cell, css) for key, cell, css in cells_of]
    group = grid.by_key[state.group] if state.group else None
    at_group = fields.index(group.key) if group is not None else None
    if group is not None and counts is None:
        seen = list(dict.fromkeys(row[at_group] for row in rows))
        counts = {value: (n, True) for value, n in query.group_counts(grid, state, scope, only=seen).items()}
    lines, previous = [], object()
    for row in rows:
        if group is not None and row[at_group] != previous:
            previous = row[at_group]
            label = group.text(previous) or "(sin valor)"
            n, exact = counts.get(previous, (0, True))
            shown_count = number(n) if exact else f"más de {number(n)}"
            lines.append(Line(group=f"{group.label}: {label} ({shown_count})"))
        # The cells as one string, escaped as Jinja would.
        html = "".join([f"<td{css}>{cell(row[at])}</td>" for at, cell, css in cells_of])
        lines.append(Line(row=row, cells_html=Markup(html)))
    return lines


def list_url(action, state, **changes):
    """The URL at `action` of the list `state` describes, with `changes` (as urlencode writes it)."""
    values = state.query(**changes)
    if not values:
        return action
    return f"{action}?" + "&".join([_query_pair(str(name), str(value)) for name, value in iter_multi_items(values)])


@lru_cache(maxsize=4096)
def _query_pair(name, value):
    # A page writes a dozen links (sort, pager, print, CSV) that repeat the same pairs.
    return f"{quote_plus(name, safe=QUERY_SAFE)}={quote_plus(value, safe=QUERY_SAFE)}"


@dataclass
class GridPage:
    """What a template gets as `grid`: the state, the visible columns, the lines, the pager."""

    grid: Grid
    state: parsing.GridState
    columns: list
    lines: list
    total: int
    exact: bool
    has_next: bool
    action: str = ""         # the form's URL (and every link's path); set by grid_response
    fragment: bool = False   # rendered as the htmx block, not the whole page; set by grid_response
    printed_at: datetime | None = None  # the moment it was drawn, said on paper; set by grid_response

    def link(self, **changes):
        """This list's URL with `changes` (link(page=2), link(group=None), link(formato="imprimir"))."""
        # What url_for(endpoint, **view_args, **query) gives, without routing each of a page's links.
        return list_url(self.action, self.state, **changes)

    @property
    def pages(self):
        return max(1, -(-self.total // self.state.per_page))

    @property
    def empty_desk(self):
        """Nothing at all to show (not a search without results): the friendly empty state."""
        return self.total == 0 and not self.state.filtered

    @property
    def info(self):
        """"Página N de M (T elementos)"."""
        p = self.state.page
        if not self.exact:
            # More than `total` rows: more than total // per_page pages, and at least this one.
            more_than = max(self.total // self.state.per_page, p)
            return f"Página {number(p)} de más de {number(more_than)} (más de {number(self.total)} elementos)"
        noun = "elemento" if self.total == 1 else "elementos"
        return f"Página {number(p)} de {number(self.pages)} ({number(self.total)} {noun})"

    @property
    def page_numbers(self):
        """A window of page numbers around the current one."""
        p = self.state.page
        last = self.pages if self.exact else p + (1 if self.has_next else 0)
        return list(range(max(1, p - 2), min(last, p + 2) + 1))

    @property
    def last_page(self):
        return self.pages if self.exact else None

    @property
    def filters(self):
        state = self.state
        return [(c, c.filter, state.choices(c) if c.filter.kind == "choice" else None)
                for c in self.grid.columns if c.filter]

    @property
    def cleared(self):
        """link(**page.cleared): the same list without search and filters."""
        params = {"q": None}
        for column in self.grid.columns:
            if column.filter is not None:
                params.update(dict.fromkeys(column.filter.params))
        return params

    @property
    def filter_count(self):
        return len(self.state.filters)

    @property
    def kept_query(self):
        """[(name, value)] of this list but its page and page size: "Filas por página"'s hidden fields."""
        return [(str(name), str(value))
                for name, value in iter_multi_items(self.state.query(page=None, per_page=None))]

    @property
    def per_page_choices(self):
        return sorted(set(parsing.PER_PAGE_CHOICES) | {self.state.per_page})

    @property
    def printing(self):
        return self.state.printing

    @property
    def print_limit(self):
        return parsing.PRINT_LIMIT

    @property
    def more_than_printed(self):
        """A print view that shows its first PRINT_LIMIT rows of more."""
        return self.state.printing and self.has_next

    @property
    def active_filters(self):
        """[(label, text)] of the search and each filter in use, in Spanish: printed above the table."""
        state = self.state
        described = [("Buscar", state.q)] if state.q else []
        for column in self.grid.columns:
            if column.key in state.filters:
                described.append((column.label, self.filter_text(column.key)))
        return described

    def filter_text(self, key):
        """The filter of column `key` in Spanish ("desde 01/10/2026 al 31/10/2026"), or None when not in use."""
        column, state = self.grid.by_key[key], self.state
        if key not in state.filters:
            return None
        return column.filter.describe(column, state.filters[key], state)

    @property
    def group_column(self):
        """The Column the list is grouped by, or None."""
        return self.grid.by_key[self.state.group] if self.state.group else None

    @property
    def groupable_columns(self):
        """Every column the list can be grouped by, shown or not (group chips, header handles)."""
        return [c for c in self.grid.columns if c.groupable]
