"""What the query string asks of a grid, made sane: plain values, no Flask, no database.

Every bad value becomes a default and a Spanish notice, never an error. `GridState.query()` says
the state back as a compact query string (defaults left out) for the page's links.
"""
from dataclasses import dataclass, field

from portal.folding import fold
from portal.grid.columns import MAX_SEARCH
from portal.grid.text import first_of, number, shown, values_of
from portal.numbers import whole_number

PER_PAGE_CHOICES = (10, 25, 50, 100)
MAX_PER_PAGE = 100
MAX_OFFSET = 200_000  # the deepest row a page may start at: an OFFSET walks every row before it
MAX_ASKED = 10**30  # a page or a page size asked for beyond it is no number (it is capped below anyway)
MAX_WORDS = 8
PRINT_LIMIT = 1000  # rows of a print view (?formato=imprimir): one bounded read, never the whole list


@dataclass
class GridState:
    grid: object  # the Grid declaration (its columns, defaults and page size)
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
    columns_refused: bool = False  # cols= named an unknown column, or none: said in `notices`
    filters: dict = field(default_factory=dict)   # column key -> parsed value
    form: dict = field(default_factory=dict)      # filter param -> value to show in the form
    options: dict = field(default_factory=dict)   # column key -> [(value, label)], read when needed
    notices: list = field(default_factory=list)
    export: bool = False
    printing: bool = False  # ?formato=imprimir: page 1 with up to PRINT_LIMIT rows, the whole page
    # The filters said back as URL values, once: a page asks query() for each of its many links.
    filter_query: dict = field(default_factory=dict)

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

    @property
    def searches_text(self):
        """Whether a statement of this state holds a LIKE (a search or a text filter)."""
        return bool(self.words) or any(self.grid.by_key[key].filter.kind == "text" for key in self.filters)

    def query(self, **changes):
        """The compact query of this state (defaults left out), with `changes` applied.

        Changing anything but `page` goes back to page 1; a print view has no page nor page size.
        """
        grid = self.grid
        values = {}
        if self.q:
            values["q"] = self.q
        values.update(self.filter_query)
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
            values.pop("page", None)
            values.pop("per_page", None)
        if changes and "page" not in changes and set(changes) - {"formato"}:
            values.pop("page", None)
        values.update(changes)
        return {name: value for name, value in values.items() if value not in (None, "", [])}


def parse(grid, args, saved_columns=None):
    """The state `args` (a MultiDict or a dict) asks of `grid`; `saved_columns`: the user's choice."""
    state = GridState(grid=grid, per_page=grid.per_page)
    _parse_search(grid, args, state)
    _parse_sort(grid, args, state)
    _parse_paging(grid, args, state)
    _parse_group(grid, args, state)
    _parse_columns(grid, args, state, saved_columns)
    for column in grid.columns:
        if column.filter is None:
            continue
        value = column.filter.parse(args, column, state)
        if value is not None:
            state.filters[column.key] = value
        state.filter_query.update(column.filter.url_values(state.form))
    formato = first_of(args, "formato")
    if formato:
        if formato.lower() == "csv":
            state.export = True
        elif formato.lower() == "imprimir":
            state.printing, state.page, state.asked_page, state.per_page = True, 1, None, PRINT_LIMIT
        else:
            state.notices.append(f"El formato «{shown(formato)}» no existe; se muestra la lista.")
    return state


def _parse_search(grid, args, state):
    q = " ".join((first_of(args, "q") or "").split())
    if len(q) > MAX_SEARCH:
        state.notices.append(f"La búsqueda se recortó a {MAX_SEARCH} caracteres.")
        q = q[:MAX_SEARCH]
    state.q = q
    if grid.search is not None:
        state.words = tuple(dict.fromkeys(fold(q).split()))[:MAX_WORDS]


def _parse_sort(grid, args, state):
    raw = first_of(args, "sort")
    key = (raw or "").lstrip("-")
    column = grid.by_key.get(key)
    if raw and (column is None or not column.sortable):
        state.notices.append(f"No se puede ordenar por «{shown(raw)}»; se usa el orden predeterminado.")
        raw = None
    raw = raw or grid.default_sort
    state.descending = raw.startswith("-")
    state.sort = raw.lstrip("-")


def _parse_paging(grid, args, state):
    per_page = _positive(args, "per_page", state,
                         "«{}» no es un número de filas por página válido; se muestran %d." % grid.per_page)
    if per_page is not None:
        if per_page > MAX_PER_PAGE:
            state.notices.append(f"Se muestran como máximo {MAX_PER_PAGE} filas por página.")
        state.per_page = min(per_page, MAX_PER_PAGE)
    page = _positive(args, "page", state, "La página «{}» no es válida; se muestra la página 1.")
    if page is not None:
        # Capped here; the notice waits for the rows: a page past the end says that instead.
        state.asked_page = page
        state.page = min(page, MAX_OFFSET // state.per_page + 1)


def _positive(args, name, state, notice):
    """The parameter as a whole number from 1 up; None when absent, or when bad (with `notice`)."""
    raw = first_of(args, name)
    if not raw:
        return None
    value = whole_number(raw, MAX_ASKED)
    if not value:
        state.notices.append(notice.format(shown(raw)))
        return None
    return value


def capped_notice(state):
    """The notice of a page cut to the deepest one (MAX_OFFSET), or None."""
    if state.asked_page and state.asked_page > state.page:
        return (f"Solo se puede avanzar hasta la página {number(state.page)}; "
                "usa Buscar o Filtro para acotar la lista.")
    return None


def _parse_group(grid, args, state):
    raw = first_of(args, "group")
    if not raw:
        return
    column = grid.by_key.get(raw)
    if column is None or not column.groupable:
        state.notices.append(f"No se puede agrupar por «{shown(raw)}»; se muestra la lista sin agrupar.")
        return
    state.group = raw


def _parse_columns(grid, args, state, saved_columns):
    asked = values_of(args, "cols")
    if asked:
        keys = [k.strip() for value in asked for k in str(value).split(",") if k.strip()]
        unknown = [k for k in dict.fromkeys(keys) if k not in grid.by_key]
        if unknown:
            listed = ", ".join(f"«{shown(k)}»" for k in unknown[:3])
            state.notices.append(f"Se ignoraron columnas desconocidas: {listed}.")
            state.columns_refused = True
        chosen = [c.key for c in grid.columns if c.key in keys]
        if chosen:
            state.columns, state.columns_explicit = chosen, True
            return
        state.notices.append("Elige al menos una columna; se muestran las columnas predeterminadas.")
        state.columns_refused = True
    saved = [c.key for c in grid.columns if c.key in (saved_columns or ())]
    state.columns = saved or list(grid.defaults)
