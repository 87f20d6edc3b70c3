"""The one grid: every list of the portal (Mis Servicios, Claves prepago) is a `Grid`.

A grid turns the query string (PRODUCT.md §3) into SQL — one query for the page (WHERE, ORDER BY,
LIMIT/OFFSET), one bounded COUNT, and when grouped one GROUP BY for the groups on the page. Rows are
never loaded into Python to be filtered, sorted or grouped.

Declaring a grid (e.g. in `portal/prepaid/grids.py`)::

    from portal.grid import Choice, Column, DateRange, Grid, NumberRange, Text

    KEYS = Grid(
        "claves-prepago",                      # name: "Columnas" is remembered per user and name
        tables=outerjoin(PrepaidKey, Client, Client.id == PrepaidKey.client_id),  # FROM and joins
        scope=lambda desk_id: [PrepaidKey.desk_id == desk_id],   # the conditions of one desk
        key=PrepaidKey.id,                     # unique: ends every ORDER BY, pages by it
        search=PrepaidKey.search_text,         # a column kept as portal.folding.fold(...) of the
                                               # searchable fields (accent/case-insensitive LIKE),
                                               # or a function (word, **scope) -> condition
        default_sort="-fecha",                 # a column key, "-" for descending
        row={"code": PrepaidKey.code},         # hidden fields a row template needs ("id" is always there)
        row_actions=None,                      # template with a macro row_action(row, csrf, here_path)
        empty="Aún no hay claves de prepago en este escritorio.",
        columns=[
            Column("clave", "Clave", PrepaidKey.code, filter=Text("clave")),
            Column("cantidad", "Cantidad", PrepaidKey.quantity, kind="number",
                   filter=NumberRange("cantidad_min", "cantidad_max")),
            Column("fecha", "Fecha", PrepaidKey.confirmed_on, kind="date", filter=DateRange("desde", "hasta")),
            Column("activacion", "F. Activación", PrepaidKey.activated_on, kind="date", empty="Inactiva",
                   nullable=True),
            Column("estatus", "Estatus", PrepaidKey.status, labels={"disponible": "Disponible", ...},
                   filter=Choice("estatus"), groupable=True),
            Column("cliente", "Cliente", Client.razon_social, empty="Sin asignar", groupable=True,
                   nullable=True, visible=True),
        ],
    )

A Column is: key (the URL word in sort/cols/group), Spanish label, SQL expression, kind ("text",
"number", "date" → DD/MM/AAAA), sortable, filter (Choice / DateRange / NumberRange / Text, each
naming its URL parameters; Choice options default to `labels`, or pass `options=callable` and
`where=callable(values)`), groupable, visible by default, `labels` (stored value → Spanish),
`empty` (text for NULL), `html` (value → Markup for the cell; CSV uses the text), `nullable` (NULLs
sort last ascending / first descending on both databases; leave False on indexed NOT NULL sorts so
the index serves the ORDER BY), `group_values` ((**scope) → a SELECT of the group's values that an
index answers in order, e.g. the desk's client names: a grouped page is then read group by group).

In the view::

    return grid_response(KEYS, "prepaid/keys.html", "keys_grid", {"desk_id": current_desk().id}, **ctx)

and in the template (the toolbar is a GET form that stays; only the block is swapped by htmx)::

    {% import "_macros/grid.html" as g with context %}
    {{ g.toolbar(grid) }}
    {% block keys_grid %}{{ g.results(grid) }}{% endblock %}

The template gets `grid` (a GridPage): `grid.state.filters[column_key]` holds the parsed filter
values (a DateRange gives (start, end) dates, for a "desde … al …" line), `grid.empty_desk` is true
when the scope has no rows at all (results() then shows `empty` and "Seguir comprando"; test it
first to show your own empty state), `grid.lines` are the body lines.

Query string: q, sort (-key), page, per_page (≤ 100), group, cols (comma list or repeated), each
filter's parameters (dates DD/MM/AAAA or AAAA-MM-DD; the form shows DD/MM/AAAA, generated links
write AAAA-MM-DD, one stable spelling), `formato=csv` for the CSV export of the current filter,
sort and visible columns (streamed, UTF-8 with BOM, dates DD/MM/AAAA), and `formato=imprimir` for
the print view (the whole page, page 1 with up to PRINT_LIMIT rows).
Bad values become defaults plus a Spanish notice in `state.notices`, never an error.

Scale: the COUNT stops at COUNT_BOUND + 1 rows ("más de 10,000"), and a count past the bound is
remembered per process for COUNT_SECONDS; pages are read with a deferred join (the ORDER BY/OFFSET
walks only the key, then the page's rows are fetched by key) and the offset is capped at
MAX_OFFSET. Counts and key pages name the outer-joined tables only when a condition or the order
needs them. Give each filter + sort an index that starts with the scope columns and ends with the
key, e.g. (desk_id, confirmed_on, id); a grouped column with `group_values`, one with the group
after the scope, e.g. (desk_id, status, confirmed_on, id). Row cells are rendered in Python into
one string per row (a template loop per cell costs more than the query). A search may be a
function (word, **scope) -> condition instead of a folded column, e.g. to use an index.
"""
import csv
import io
import time
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Callable

from urllib.parse import urlencode

from markupsafe import Markup, escape
from sqlalchemy import func, literal_column, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.expression import ColumnClause, FromClause, ScalarSelect, SelectBase
from sqlalchemy.sql.functions import FunctionElement
from werkzeug.datastructures import iter_multi_items

from portal.extensions import db
from portal.folding import fold
from portal.postgres import PLAN_PER_EXECUTION

PER_PAGE_CHOICES = (10, 25, 50, 100)
MAX_PER_PAGE = 100
COUNT_BOUND = 10_000
MAX_OFFSET = 200_000
PRINT_LIMIT = 1000  # rows of a print view (?formato=imprimir): one bounded read, never the whole list
MAX_SEARCH = 100
MAX_WORDS = 8
CSV_CHUNK = 1000
QUERY_SAFE = "!$'()*,/:;?@"  # left unquoted in query strings, as Werkzeug's url_for does


def number(n):
    """12,345: thousands as written in Mexico."""
    return f"{n:,}"


def _shown(value):
    """A user's value quoted in a notice: short, so a long URL cannot flood the page."""
    value = str(value)
    return value if len(value) <= 30 else value[:29] + "…"


def _values(args, name):
    if hasattr(args, "getlist"):
        return args.getlist(name)
    value = args.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _first(args, name):
    values = _values(args, name)
    return values[0].strip() if values and isinstance(values[0], str) else None


def like_pattern(word):
    """%word% with LIKE's own characters escaped (use escape="\\")."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def parse_date(text):
    """AAAA-MM-DD (what <input type=date> sends) or DD/MM/AAAA; None if not a real date."""
    text = (text or "").strip()
    try:
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            return date(int(text[:4]), int(text[5:7]), int(text[8:]))
        if len(text) == 10 and text[2] == "/" and text[5] == "/":
            return date(int(text[6:]), int(text[3:5]), int(text[:2]))
    except ValueError:
        return None
    return None


# --- filters: each names its URL parameters, parses them, and makes one SQL condition ----------

@dataclass(frozen=True)
class Choice:
    """One or more of a list of values (a <select>): `param=value`, repeatable."""

    param: str
    options: Any = None   # None: the column's labels; or a callable returning [(value, label), ...]
    where: Callable | None = None  # callable(values) -> condition; default: column IN values
    kind = "choice"

    @property
    def params(self):
        return (self.param,)

    def choices(self, column):
        if self.options is None:
            return list((column.labels or {}).items())
        return list(self.options() if callable(self.options) else self.options)

    def parse(self, args, column, state):
        asked = [v.strip() for v in _values(args, self.param) if isinstance(v, str) and v.strip()]
        allowed = {value for value, _label in state.choices(column)} if asked else set()
        picked = []
        for value in asked:
            if value in allowed:
                picked.append(value)
            else:
                state.notices.append(f"«{_shown(value)}» no es un valor válido de {column.label}; se ignoró ese filtro.")
        state.form[self.param] = picked
        return tuple(dict.fromkeys(picked)) or None

    def condition(self, column, values):
        return self.where(values) if self.where else column.expr.in_(values)

    def url_values(self, form):
        return {self.param: form.get(self.param)}

    def describe(self, column, values, state):
        # In the order the form lists them, whatever order the URL gave.
        return ", ".join(label for value, label in state.choices(column) if value in values)


@dataclass(frozen=True)
class DateRange:
    """From and/or to a date, both included: `desde=AAAA-MM-DD&hasta=AAAA-MM-DD`."""

    start: str = "desde"
    end: str = "hasta"
    kind = "dates"

    @property
    def params(self):
        return (self.start, self.end)

    def parse(self, args, column, state):
        bounds = []
        for param in self.params:
            raw = _first(args, param)
            value = parse_date(raw) if raw else None
            if raw and value is None:
                state.notices.append(f"«{_shown(raw)}» no es una fecha válida de {column.label} (usa DD/MM/AAAA); se ignoró.")
            bounds.append(value)
        start, end = bounds
        if start and end and start > end:
            state.notices.append(f"En {column.label} la fecha inicial era posterior a la final; se intercambiaron.")
            start, end = end, start
        # The form shows DD/MM/AAAA whatever the browser's locale; links carry AAAA-MM-DD (url_values).
        state.form[self.start] = start.strftime("%d/%m/%Y") if start else ""
        state.form[self.end] = end.strftime("%d/%m/%Y") if end else ""
        return (start, end) if start or end else None

    def url_values(self, form):
        """AAAA-MM-DD in URLs: one spelling per date, so a bookmark or a cache key never doubles."""
        values = {}
        for param in self.params:
            day = parse_date(form.get(param))
            values[param] = day.isoformat() if day else None
        return values

    def describe(self, column, bounds, state):
        start, end = (day.strftime("%d/%m/%Y") if day else None for day in bounds)
        if start and end:
            return f"desde {start} al {end}"
        return f"desde {start}" if start else f"hasta {end}"

    def condition(self, column, bounds):
        start, end = bounds
        parts = []
        if start:
            parts.append(column.expr >= start)
        if end:
            parts.append(column.expr <= end)
        return parts[0] if len(parts) == 1 else parts[0] & parts[1]


@dataclass(frozen=True)
class NumberRange:
    """Whole numbers from and/or to, both included: `usuarios_min=2&usuarios_max=10`."""

    low: str
    high: str
    kind = "numbers"

    @property
    def params(self):
        return (self.low, self.high)

    def parse(self, args, column, state):
        bounds = []
        for param in self.params:
            raw = _first(args, param)
            value = None
            if raw:
                try:
                    value = int(raw)
                    if abs(value) > 2**31:
                        raise ValueError
                except ValueError:
                    state.notices.append(f"«{_shown(raw)}» no es un número válido para {column.label}; se ignoró.")
                    value = None
            bounds.append(value)
        low, high = bounds
        if low is not None and high is not None and low > high:
            state.notices.append(f"En {column.label} el mínimo era mayor que el máximo; se intercambiaron.")
            low, high = high, low
        state.form[self.low] = "" if low is None else str(low)
        state.form[self.high] = "" if high is None else str(high)
        return None if low is None and high is None else (low, high)

    def url_values(self, form):
        return {param: form.get(param) for param in self.params}

    def describe(self, column, bounds, state):
        low, high = (None if n is None else number(n) for n in bounds)
        if low is not None and high is not None:
            return f"de {low} a {high}"
        return f"{low} o más" if low is not None else f"hasta {high}"

    def condition(self, column, bounds):
        low, high = bounds
        parts = []
        if low is not None:
            parts.append(column.expr >= low)
        if high is not None:
            parts.append(column.expr <= high)
        return parts[0] if len(parts) == 1 else parts[0] & parts[1]


@dataclass(frozen=True)
class Text:
    """Contains the text, ignoring case: `serie=SAE12`."""

    param: str
    kind = "text"

    @property
    def params(self):
        return (self.param,)

    def parse(self, args, column, state):
        value = (_first(args, self.param) or "")[:MAX_SEARCH]
        state.form[self.param] = value
        return value.lower() or None

    def condition(self, column, value):
        return func.lower(column.expr).like(like_pattern(value), escape="\\")

    def url_values(self, form):
        return {self.param: form.get(self.param)}

    def describe(self, column, value, state):
        return state.form[self.param]


# --- columns ---------------------------------------------------------------------------------

def badge(value, label):
    """A status cell: <span class="badge badge-VALUE">LABEL</span> (no str.format: one per row)."""
    return Markup(f'<span class="badge badge-{escape(value)}">{escape(label)}</span>')


def _csv_safe(text):
    # A cell starting like a formula is run by spreadsheets: keep it text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@dataclass(frozen=True, eq=False)
class Column:
    key: str
    label: str
    expr: Any
    kind: str = "text"          # text | number | date
    sortable: bool = True
    filter: Any = None
    groupable: bool = False
    visible: bool = True
    labels: dict | None = None
    empty: str = ""
    html: Callable | None = None
    nullable: bool = False
    group_values: Callable | None = None  # (**scope) -> a select of the group values, from an index: walk groups

    @property
    def css(self):
        return Markup(' class="grid-num"') if self.kind == "number" else Markup("")

    def text(self, value):
        """The cell as plain text: labels, DD/MM/AAAA, the empty text for NULL."""
        if value is None:
            return self.empty
        if self.labels is not None:
            return self.labels.get(value, str(value))
        if self.kind == "date":
            return value.strftime("%d/%m/%Y")
        return str(value)

    def cell(self, value):
        """The HTML cell content (Markup from `html`, else text that Jinja escapes)."""
        if self.html is not None and value is not None:
            return self.html(value)
        return self.text(value)

    def csv(self, value):
        text = self.text(value)
        return _csv_safe(text) if self.kind == "text" else text

    def ordered(self, descending):
        if not self.nullable:
            return self.expr.desc() if descending else self.expr.asc()
        # NULL is "greater than everything" on both databases (PostgreSQL's own rule).
        return self.expr.desc().nulls_first() if descending else self.expr.asc().nulls_last()

    def relabel(self, label, **changes):
        """The same column under another label (e.g. "Vigencia desde" → "Inicio")."""
        return replace(self, label=label, **changes)


# --- state: what the query string asked for, made sane ---------------------------------------

@dataclass
class GridState:
    grid: "Grid"
    q: str = ""
    words: tuple = ()
    sort: str = ""
    descending: bool = False
    page: int = 1
    asked_page: int | None = None   # the page the URL asked for, before the MAX_OFFSET cap
    per_page: int = 25
    group: str | None = None
    columns: list = field(default_factory=list)
    columns_explicit: bool = False
    filters: dict = field(default_factory=dict)   # column key -> parsed value
    form: dict = field(default_factory=dict)      # filter param -> value to show in the form
    options: dict = field(default_factory=dict)   # column key -> [(value, label)], read when needed
    notices: list = field(default_factory=list)
    export: bool = False
    printing: bool = False  # ?formato=imprimir: page 1 with up to PRINT_LIMIT rows, the whole page

    def choices(self, column):
        """The options of a Choice filter, read once per request and only when needed."""
        if column.key not in self.options:
            self.options[column.key] = column.filter.choices(column)
        return self.options[column.key]

    @property
    def sort_param(self):
        return ("-" if self.descending else "") + self.sort

    @property
    def filtered(self):
        """Whether search or a filter narrows the list (an empty result then is "no match")."""
        return bool(self.words or self.filters)

    def query(self, **changes):
        """The compact query of this state (defaults left out), with `changes` applied.

        Changing anything but `page` goes back to page 1.
        """
        grid = self.grid
        values = {}
        if self.q:
            values["q"] = self.q
        for column in grid.columns:
            if column.filter is not None:
                values.update(column.filter.url_values(self.form))
        if self.sort_param != grid.default_sort:
            values["sort"] = self.sort_param
        if self.group:
            values["group"] = self.group
        if self.columns_explicit:
            values["cols"] = ",".join(self.columns)
        if self.printing:
            values["formato"] = "imprimir"
        else:
            if self.per_page != grid.per_page:
                values["per_page"] = self.per_page
            if self.page > 1:
                values["page"] = self.page
        if changes.get("formato") == "imprimir":
            # The print view is always its first PRINT_LIMIT rows: no page, no page size.
            values.pop("page", None)
            values.pop("per_page", None)
        if changes and "page" not in changes and set(changes) - {"formato"}:
            values.pop("page", None)
        values.update(changes)
        return {name: value for name, value in values.items() if value not in (None, "", [])}


class Line:
    """One line of the table body: a group header, or a row and its cells' HTML (<td>…</td>…)."""

    __slots__ = ("group", "row", "cells_html")

    def __init__(self, group=None, row=None, cells_html=None):
        self.group, self.row, self.cells_html = group, row, cells_html


@dataclass
class GridPage:
    grid: "Grid"
    state: GridState
    columns: list
    lines: list
    total: int
    exact: bool
    has_next: bool
    action: str = ""         # the form's URL (and every link's path); set by grid_response
    fragment: bool = False   # rendered as the htmx block, not the whole page; set by grid_response

    def link(self, **changes):
        """This list's URL with `changes` (link(page=2), link(group=None), link(formato="imprimir"))."""
        # What url_for(endpoint, **view_args, **query) gives, without routing each of a page's links.
        query = self.state.query(**changes)
        return f"{self.action}?{urlencode(list(iter_multi_items(query)), safe=QUERY_SAFE)}" if query else self.action

    @property
    def print_limit(self):
        return PRINT_LIMIT

    @property
    def printing(self):
        return self.state.printing

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
                described.append((column.label, column.filter.describe(column, state.filters[column.key], state)))
        return described

    @property
    def group_column(self):
        """The Column the list is grouped by, or None."""
        return self.grid.by_key[self.state.group] if self.state.group else None

    @property
    def groupable_columns(self):
        """Every column the list can be grouped by, shown or not (group chips, header handles)."""
        return [c for c in self.grid.columns if c.groupable]

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
    def per_page_choices(self):
        return sorted(set(PER_PAGE_CHOICES) | {self.state.per_page})


_END = object()
COUNT_SECONDS = 30


def _past_bound():
    """This app's remembered counts past their bound: {key: time}, per process."""
    from flask import current_app

    return current_app.extensions.setdefault("grid_past_bound", {})


def _remembered(key):
    # A list past its bound stays past it unless rows leave it (keys are never deleted; a status
    # may change): for COUNT_SECONDS the "más de N" is taken as known. Counts within the bound,
    # the ones a user reads as exact numbers, are never remembered.
    at = _past_bound().get(key)
    return at is not None and time.monotonic() - at < COUNT_SECONDS


def _remember(key):
    known = _past_bound()
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


# --- the grid --------------------------------------------------------------------------------

class Grid:
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

    # -- parsing ------------------------------------------------------------------------------

    def parse(self, args, saved_columns=None):
        """The state the query string asks for; every bad value becomes a default and a notice."""
        state = GridState(grid=self, per_page=self.per_page)
        self._parse_search(args, state)
        self._parse_sort(args, state)
        self._parse_paging(args, state)
        self._parse_group(args, state)
        self._parse_columns(args, state, saved_columns)
        for column in self.columns:
            if column.filter is None:
                continue
            value = column.filter.parse(args, column, state)
            if value is not None:
                state.filters[column.key] = value
        formato = _first(args, "formato")
        if formato:
            if formato.lower() == "csv":
                state.export = True
            elif formato.lower() == "imprimir":
                state.printing, state.page, state.asked_page, state.per_page = True, 1, None, PRINT_LIMIT
            else:
                state.notices.append(f"El formato «{_shown(formato)}» no existe; se muestra la lista.")
        return state

    def _parse_search(self, args, state):
        q = " ".join((_first(args, "q") or "").split())
        if len(q) > MAX_SEARCH:
            state.notices.append(f"La búsqueda se recortó a {MAX_SEARCH} caracteres.")
            q = q[:MAX_SEARCH]
        state.q = q
        if self.search is not None:
            state.words = tuple(dict.fromkeys(fold(q).split()))[:MAX_WORDS]

    def _parse_sort(self, args, state):
        raw = _first(args, "sort")
        key = (raw or "").lstrip("-")
        column = self.by_key.get(key)
        if raw and (column is None or not column.sortable):
            state.notices.append(f"No se puede ordenar por «{_shown(raw)}»; se usa el orden predeterminado.")
            raw = None
        raw = raw or self.default_sort
        state.descending = raw.startswith("-")
        state.sort = raw.lstrip("-")

    def _parse_paging(self, args, state):
        raw = _first(args, "per_page")
        if raw:
            try:
                per_page = int(raw)
                if per_page < 1:
                    raise ValueError
            except ValueError:
                state.notices.append(f"«{_shown(raw)}» no es un número de filas por página válido; se muestran {self.per_page}.")
            else:
                if per_page > MAX_PER_PAGE:
                    state.notices.append(f"Se muestran como máximo {MAX_PER_PAGE} filas por página.")
                state.per_page = min(per_page, MAX_PER_PAGE)
        raw = _first(args, "page")
        if raw:
            try:
                page = int(raw)
                if page < 1:
                    raise ValueError
            except ValueError:
                state.notices.append(f"La página «{_shown(raw)}» no es válida; se muestra la página 1.")
            else:
                # Capped here; the notice waits for the rows (fetch): a page past the end says so instead.
                state.asked_page = page
                state.page = min(page, MAX_OFFSET // state.per_page + 1)

    def _parse_group(self, args, state):
        raw = _first(args, "group")
        if not raw:
            return
        column = self.by_key.get(raw)
        if column is None or not column.groupable:
            state.notices.append(f"No se puede agrupar por «{_shown(raw)}»; se muestra la lista sin agrupar.")
            return
        state.group = raw

    def _parse_columns(self, args, state, saved_columns):
        asked = _values(args, "cols")
        if asked:
            keys = [k.strip() for value in asked for k in str(value).split(",") if k.strip()]
            unknown = [k for k in dict.fromkeys(keys) if k not in self.by_key]
            if unknown:
                shown = ", ".join(f"«{_shown(k)}»" for k in unknown[:3])
                state.notices.append(f"Se ignoraron columnas desconocidas: {shown}.")
            chosen = [c.key for c in self.columns if c.key in keys]
            if chosen:
                state.columns, state.columns_explicit = chosen, True
                return
            state.notices.append("Elige al menos una columna; se muestran las columnas predeterminadas.")
        saved = [c.key for c in self.columns if c.key in (saved_columns or ())]
        state.columns = saved or list(self.defaults)

    # -- SQL ----------------------------------------------------------------------------------

    def _conditions(self, state, scope):
        if callable(self.search) and not hasattr(self.search, "like"):
            # The grid's own rule per folded word (e.g. one that an index can serve).
            conditions = [self.search(word, **scope) for word in state.words]
        else:
            conditions = [self.search.like(like_pattern(word), escape="\\") for word in state.words]
        for key, value in state.filters.items():
            column = self.by_key[key]
            conditions.append(column.filter.condition(column, value))
        return conditions

    def _order(self, state):
        column = self.by_key[state.sort]
        order = []
        if state.group:
            group = self.by_key[state.group]
            order.append(group.ordered(state.descending if group is column else False))
        order.append(column.ordered(state.descending))
        order.append(self.key.desc() if state.descending else self.key.asc())
        return order

    def filtered(self, state, **scope):
        """The scoped query with the search and filters applied (columns still to be chosen)."""
        return self._filtered(state, scope)

    def _filtered(self, state, scope, shown=()):
        return self._keys(self._where(state, scope), self._used(state, shown))

    def _where(self, state, scope):
        return [*self.scope(**scope), *self._conditions(state, scope)]

    def _used(self, state, shown=()):
        """The columns the order (and the group, and `shown`) read: they may need another table."""
        return [self.by_key[state.sort].expr, *shown] + ([self.by_key[state.group].expr] if state.group else [])

    def _keys(self, conditions, used=()):
        """The keys of the rows meeting `conditions`, joined to the tables they and `used` name.
        A count passes nothing in `used`: the sort and the group may need another table
        (Cliente), a count does not."""
        return select(self.key).select_from(self._from(*conditions, *used)).where(*conditions)

    def _from(self, *clauses):
        """The key's table alone when `clauses` name no other table, else the grid's joins.

        Counting and paging the keys then never touch the outer-joined tables: PostgreSQL keeps
        the join column as needed even when it removes the join, and so cannot count with an
        index-only scan over an index without it (e.g. (desk_id, status, confirmed_on, id)).
        """
        base = self.key.table
        return base if _tables_named(*clauses) <= {base} else self.tables

    def count(self, state, bound=COUNT_BOUND, **scope):
        """How many rows match, counting no further than bound + 1 (bound=None: exact)."""
        return self._count(self._keys(self._where(state, scope)), bound)

    def _count(self, query, bound, key=None):
        """Rows of `query`, no further than bound + 1. With a `key`, a count that went past the
        bound is remembered for COUNT_SECONDS: "más de N" again costs nothing (see _remembered)."""
        if key is not None and bound is not None and _remembered(key + (bound,)):
            return bound + 1
        ones = query.with_only_columns(literal_column("1"))
        if bound is not None:
            ones = ones.limit(bound + 1)
        n = db.session.scalar(select(func.count()).select_from(ones.subquery()))
        if key is not None and bound is not None and n > bound:
            _remember(key + (bound,))
        return n

    def _count_key(self, state, scope, *more):
        """What a count depends on: the grid, the scope, the search and the filters (not sort or page)."""
        filters = tuple(sorted((k, repr(v)) for k, v in state.filters.items()))
        return (self.name, tuple(sorted(scope.items())), state.words, filters, *more)

    def group_counts(self, state, only=None, **scope):
        """{group value: rows} under the current search and filters; `only` limits the groups."""
        group = self.by_key[state.group].expr
        query = self.filtered(state, **scope).with_only_columns(group, func.count()).group_by(group)
        if only is not None:
            present = [v for v in only if v is not None]
            alternatives = [group.in_(present)] if present else []
            if None in only:
                alternatives.append(group.is_(None))
            query = query.where(or_(*alternatives))
        return {value: n for value, n in db.session.execute(query).all()}

    def _selected(self, state):
        """The visible columns, the group's column, and the hidden fields a row needs: nothing more."""
        picked = [self.by_key[k].expr.label(k) for k in state.columns]
        if state.group and state.group not in state.columns:
            picked.append(self.by_key[state.group].expr.label(state.group))
        return picked + [expr.label(name) for name, expr in self.row.items()]

    def fetch(self, state, **scope):
        """The page the state asks for: rows, bounded total, group headers with their counts."""
        if state.words or any(self.by_key[key].filter.kind == "text" for key in state.filters):
            # How many rows a LIKE pattern matches decides the best plan: PostgreSQL plans these
            # statements with the words each time (portal/postgres.py), for the rest of the request.
            db.session.connection().execution_options(**{PLAN_PER_EXECUTION: True})
        conditions = self._where(state, scope)  # built once: a search's subqueries are not cheap
        filtered = self._keys(conditions, self._used(state))
        matching = self._keys(conditions)
        total = self._count(matching, COUNT_BOUND, self._count_key(state, scope))
        exact = total <= COUNT_BOUND
        rows, counts = self._page_rows(state, filtered, scope)
        if not rows and state.page > 1:
            # Past the end: show the last page that exists (an exact count only on this rare path).
            last = max(1, -(-self._count(matching, None) // state.per_page))
            asked = max(state.page, state.asked_page or 0)
            state.notices.append(f"La página {number(asked)} no existe; se muestra la última ({number(last)}).")
            state.page = last
            rows, counts = self._page_rows(state, filtered, scope)
        elif state.asked_page and state.asked_page > state.page:
            state.notices.append(f"Solo se puede avanzar hasta la página {number(state.page)}; "
                                 "usa Buscar o Filtro para acotar la lista.")
        has_next = len(rows) > state.per_page
        rows = rows[:state.per_page]
        offset = (state.page - 1) * state.per_page
        if not exact:
            if has_next:
                total = max(COUNT_BOUND, offset + state.per_page)  # "más de" this many
            else:
                total, exact = offset + len(rows), True  # the last page tells the exact total
        shown = [self.by_key[k] for k in state.columns]
        lines = self._lines(state, rows, shown, counts, scope)
        return GridPage(self, state, shown, lines, total, exact, has_next)

    def _page_rows(self, state, filtered, scope):
        """(rows of the page and one more, {group value: (rows, exact)} or None when not walked)."""
        if state.group and self._walkable(self.by_key[state.group]):
            return self._grouped_rows(state, filtered, scope)
        return self._rows(state, filtered, scope), None

    def _rows(self, state, filtered, scope):
        order = self._order(state)
        # Deferred join: ORDER BY + OFFSET walk only the key (an index), then fetch the page's rows.
        keys = (filtered.with_only_columns(self.key).order_by(*order)
                .limit(state.per_page + 1).offset((state.page - 1) * state.per_page))
        return self._rows_by_key(state, keys, order)

    def _rows_by_key(self, state, keys, order):
        # Same FROM and joins, but no scope condition: the keys are already the desk's, and a
        # repeated scope would tempt the planner to walk the whole scope index again.
        page = (select(*self._selected(state)).select_from(self.tables)
                .where(self.key.in_(keys.scalar_subquery())).order_by(*order))
        return db.session.execute(page).all()

    # -- grouped pages: one group at a time --------------------------------------------------

    @staticmethod
    def _walkable(column):
        # Groups are walked value by value when the grid says where the values come from (an
        # index the database reads in order) and the column sorts by its own value (not, e.g.,
        # "50 Timbres" by the number 50). Other lists are small enough for one ORDER BY.
        return column.group_values is not None and type(column).ordered is Column.ordered

    @staticmethod
    def _nulls_first(column, descending):
        """Where the group of NULLs goes, as ORDER BY puts it (see Column.ordered)."""
        if column.nullable:
            return descending
        # Undeclared NULLs (an outer join) sort as each database does: PostgreSQL takes NULL as
        # the largest value, SQLite as the smallest.
        largest = db.session.get_bind().dialect.name == "postgresql"
        return descending if largest else not descending

    def _grouped_rows(self, state, filtered, scope):
        """The page of a grouped list, group by group, and each group's row count (bounded).

        Ordering a million rows by group then date cannot use one index (the directions differ,
        or the group's value lives in a joined table); each group alone can: WHERE group = value
        ORDER BY date walks (scope, group, date, id). Groups wholly before the page are counted
        (exactly: no further than the page's end) and skipped; the groups on the page are counted
        up to COUNT_BOUND and shown as "más de N" beyond it, as the total is.
        """
        group = self.by_key[state.group]
        expr = group.expr
        descending = state.descending if state.sort == state.group else False
        sort = self.by_key[state.sort]
        within = [sort.ordered(state.descending), self.key.desc() if state.descending else self.key.asc()]
        start = (state.page - 1) * state.per_page
        want = state.per_page + 1
        rows, counts, position = [], {}, 0
        values = self._group_values(group, scope, filtered, descending)
        while len(rows) < want:
            value = next(values, _END)
            if value is _END:
                break
            # A candidate with no row under the filters counts 0 and is passed over.
            members = filtered.where(expr.is_(None) if value is None else expr == value)
            bound = max(COUNT_BOUND, start + want - position)
            n = self._count(members, bound, self._count_key(state, scope, (state.group, value)))
            exact = n <= bound
            if exact and position + n <= start:
                position += n
                continue
            keys = (members.with_only_columns(self.key).order_by(*within)
                    .limit(want - len(rows)).offset(max(0, start - position)))
            rows.extend(self._rows_by_key(state, keys, within))
            counts[value] = (min(n, bound), exact)
            position += n
        return rows, counts

    def _group_values(self, group, scope, filtered, descending):
        """The candidate group values in order, read one at a time (the next after the last).

        Candidates come from the column's `group_values(**scope)`: the scope's values without the
        search and filters, which an index gives in order at once (the filters would make the
        database sort to find the next one). A candidate no row has under the filters counts 0 and
        is passed over. NULL comes first or last, if any row under the filters has it.
        """
        expr = group.expr
        nulls_first = self._nulls_first(group, descending)

        def has_nulls():
            return db.session.scalar(filtered.with_only_columns(self.key).where(expr.is_(None)).limit(1)) is not None

        if nulls_first and has_nulls():
            yield None
        candidate = group.group_values(**scope).subquery().c[0]
        present = select(candidate).where(candidate.is_not(None))
        order = candidate.desc() if descending else candidate.asc()
        value = None
        while True:
            following = present if value is None else present.where(candidate < value if descending else candidate > value)
            value = db.session.scalar(following.order_by(order).limit(1))
            if value is None:
                break
            yield value
        if not nulls_first and has_nulls():
            yield None

    def _lines(self, state, rows, shown, counts, scope):
        cells_of = [(c.key, c.cell, str(c.css)) for c in shown]
        group = self.by_key[state.group] if state.group else None
        if group is not None and rows and counts is None:
            seen = list(dict.fromkeys(row._mapping[group.key] for row in rows))
            counts = {value: (n, True) for value, n in self.group_counts(state, only=seen, **scope).items()}
        lines, previous = [], object()
        for row in rows:
            values = row._mapping
            if group is not None and values[group.key] != previous:
                previous = values[group.key]
                label = group.text(previous) or "(sin valor)"
                n, exact = counts.get(previous, (0, True))
                shown_count = number(n) if exact else f"más de {number(n)}"
                lines.append(Line(group=f"{group.label}: {label} ({shown_count})"))
            # The cells as one string, escaped as Jinja would: a template loop per cell costs more
            # than the rest of the row (docs/PERFORMANCE.md).
            cells = "".join([f"<td{css}>{escape(cell(values[key]))}</td>" for key, cell, css in cells_of])
            lines.append(Line(row=row, cells_html=Markup(cells)))
        return lines

    def export(self, state, engine=None, **scope):
        """The CSV of the current search, filters, sort and visible columns, in chunks of text.

        Reads through its own connection (`engine`, default the app's), streaming on PostgreSQL,
        so it needs no application context while the response is being sent.
        """
        shown = [self.by_key[k] for k in state.columns]
        query = (self._filtered(state, scope, [c.expr for c in shown])
                 .with_only_columns(*[c.expr.label(c.key) for c in shown])
                 .order_by(*self._order(state)))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([c.label for c in shown])
        yield "\ufeff" + buffer.getvalue()
        formats = [c.csv for c in shown]
        with (engine or db.engine).connect() as connection:
            result = connection.execution_options(stream_results=True, yield_per=CSV_CHUNK).execute(query)
            for rows in result.partitions():
                buffer.seek(0)
                buffer.truncate()
                writer.writerows([[fmt(value) for fmt, value in zip(formats, row)] for row in rows])
                yield buffer.getvalue()


# --- "Columnas" remembered per user and grid -------------------------------------------------

def saved_columns(user_id, grid_name):
    """The column keys a user last chose in a grid, or None."""
    from portal.models import GridPreference

    value = db.session.scalar(select(GridPreference.columns).where(
        GridPreference.user_id == user_id, GridPreference.grid == grid_name))
    return value.split(",") if value else None


def column_choices_of(user_id):
    """Every grid's saved columns of a user as one text, "grid=key,key;grid=key" — a scalar
    subquery for the statement that loads the signed-in user, so a grid page does not ask again."""
    from portal.models import GridPreference

    return (select(func.aggregate_strings(GridPreference.grid + "=" + GridPreference.columns, ";"))
            .where(GridPreference.user_id == user_id).scalar_subquery())


def parse_column_choices(text):
    """{grid: "key,key"} from column_choices_of()'s text (grid names and keys never hold = or ;)."""
    return dict(item.split("=", 1) for item in (text or "").split(";") if "=" in item)


def columns_chosen_by(user, grid_name):
    """The user's saved columns for a grid: read with the user when the session loaded them."""
    choices = getattr(user, "column_choices", None)
    if choices is None:
        return saved_columns(user.id, grid_name)
    value = choices.get(grid_name)
    return value.split(",") if value else None


def remember_columns(user_id, grid_name, keys):
    """Keep the user's column choice for a grid; True if it changed (the caller commits)."""
    from portal.models import GridPreference

    value = ",".join(keys)[:500]
    preference = db.session.scalar(select(GridPreference).where(
        GridPreference.user_id == user_id, GridPreference.grid == grid_name))
    if preference is not None:
        if preference.columns == value:
            return False
        preference.columns = value
        return True
    db.session.add(GridPreference(user_id=user_id, grid=grid_name, columns=value))
    return True


# --- HTTP: the page, its htmx fragment, or the CSV -------------------------------------------

def grid_response(grid, template, block, scope, **context):
    """Render `template` (or for htmx its `block`) with `grid` = the page; ?formato=csv streams the CSV."""
    from flask import Response, make_response, request, url_for
    from flask_login import current_user

    from portal.htmx import is_htmx, render

    state = grid.parse(request.args, saved_columns=columns_chosen_by(current_user, grid.name))
    if state.columns_explicit:
        try:
            if remember_columns(current_user.id, grid.name, state.columns):
                db.session.commit()
        except SQLAlchemyError:
            # Another tab saved first, or SQLite was busy: the choice still shows, and is kept next time.
            db.session.rollback()
    if state.export:
        filename = f"{grid.name}-{date.today().isoformat()}.csv"
        # The body is sent after this request's context is gone: the export holds its own connection.
        return Response(grid.export(state, engine=db.engine, **scope), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                 "Cache-Control": "no-store"})
    page = grid.fetch(state, **scope)
    page.action = url_for(request.endpoint, **(request.view_args or {}))
    # A print view is a whole page even when htmx asked: it opens on its own, never swapped in.
    page.fragment = is_htmx() and not state.printing
    response = make_response(render(template, block=block if page.fragment else None, grid=page, **context))
    if page.fragment:
        # The address bar shows the short, bookmarkable URL of what is on screen.
        response.headers["HX-Push-Url"] = page.link()
    return response

