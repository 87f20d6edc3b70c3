"""What a grid declares: its columns and their filters, and how a column's value reads as text, HTML or CSV.

Each filter names its URL parameters, parses them (a bad value is ignored with a Spanish notice),
says them back for the form, the links and the printed page, and makes one SQL condition.
"""
from dataclasses import dataclass, replace
from typing import Any, Callable

from markupsafe import Markup
from sqlalchemy import bindparam, func

from portal.grid.text import csv_safe, day_text, first_of, html_text, like_pattern, number, parse_date, shown, values_of

MAX_SEARCH = 100  # characters of a search or a text filter


# --- filters ---------------------------------------------------------------------------------

class OneParameter:
    """A filter of one URL parameter, linked as the form shows it."""

    @property
    def params(self):
        return (self.param,)

    def url_values(self, form):
        return {self.param: form.get(self.param)}

    def bound(self, name, value):
        """(`value` as bound parameters named from `name`, what of it shapes the statement, their
        values), or None when the condition reads the value in Python (Text's LIKE pattern)."""
        return None


@dataclass(frozen=True)
class Choice(OneParameter):
    """One or more of a list of values (a <select>): `param=value`, repeatable."""

    param: str
    options: Any = None   # None: the column's labels; or a callable returning [(value, label), ...]
    where: Callable | None = None  # callable(values) -> condition; default: column IN values
    kind = "choice"

    def choices(self, column):
        if self.options is None:
            return list((column.labels or {}).items())
        return list(self.options() if callable(self.options) else self.options)

    def parse(self, args, column, state):
        asked = [v.strip() for v in values_of(args, self.param) if isinstance(v, str) and v.strip()]
        allowed = {value for value, _label in state.choices(column)} if asked else set()
        picked = []
        for value in asked:
            if value in allowed:
                picked.append(value)
            else:
                state.notices.append(f"«{shown(value)}» no es un valor válido de {column.label}; se ignoró ese filtro.")
        state.form[self.param] = picked
        return tuple(dict.fromkeys(picked)) or None

    def condition(self, column, values):
        return self.where(values) if self.where else column.expr.in_(values)

    def bound(self, name, values):
        # The own IN only lists the values; a declared `where` (or a subclass) may read them.
        if self.where is not None or type(self).condition is not Choice.condition:
            return None
        return bindparam(name, expanding=True), (), {name: list(values)}

    def describe(self, column, values, state):
        # In the order the form lists them, whatever order the URL gave.
        return ", ".join(label for value, label in state.choices(column) if value in values)


@dataclass(frozen=True)
class Range:
    """From and/or to, both included, each bound optional; a reversed pair is swapped with a notice.

    A subclass says how one bound is read (`read`: text -> value or None), written in the form
    (`write`), in a link (`link`) and on paper (`say`), and its Spanish words.
    """

    low: str
    high: str
    swapped = "el mínimo era mayor que el máximo"

    @property
    def params(self):
        return (self.low, self.high)

    def parse(self, args, column, state):
        bounds = []
        for param in (self.low, self.high):
            raw = first_of(args, param)
            value = self.read(raw) if raw else None
            if raw and value is None:
                state.notices.append(self.invalid(shown(raw), column.label))
            bounds.append(value)
        low, high = bounds
        if low is not None and high is not None and low > high:
            state.notices.append(f"En {column.label} {self.swapped}; se intercambiaron.")
            low, high = high, low
        state.form[self.low] = "" if low is None else self.write(low)
        state.form[self.high] = "" if high is None else self.write(high)
        return None if low is None and high is None else (low, high)

    def condition(self, column, bounds):
        low, high = bounds
        parts = []
        if low is not None:
            parts.append(column.expr >= low)
        if high is not None:
            parts.append(column.expr <= high)
        return parts[0] if len(parts) == 1 else parts[0] & parts[1]

    def bound(self, name, bounds):
        """See OneParameter.bound: which bounds are set shapes the statement."""
        # The own condition only compares the column with each bound; a subclass's may compute
        # from it (DayRange: the day's start in the portal's time zone).
        if type(self).condition is not Range.condition:
            return None
        names = [None if v is None else f"{name}_{end}" for end, v in zip(("low", "high"), bounds)]
        symbols = tuple(None if n is None else bindparam(n) for n in names)
        return symbols, tuple(n is not None for n in names), {n: v for n, v in zip(names, bounds) if n is not None}

    def url_values(self, form):
        values = {}
        for param in (self.low, self.high):
            value = self.read(form.get(param) or "")
            values[param] = None if value is None else self.link(value)
        return values

    def describe(self, column, bounds, state):
        low, high = (None if value is None else self.say(value) for value in bounds)
        if low is not None and high is not None:
            return self.between.format(low=low, high=high)
        return self.from_only.format(low=low) if low is not None else self.to_only.format(high=high)

    def link(self, value):
        return self.write(value)

    def say(self, value):
        return self.write(value)


@dataclass(frozen=True)
class DateRange(Range):
    """From and/or to a date: `desde=01/10/2026&hasta=2026-12-01` (either spelling).

    `every`: the parameter of "Todas las fechas" (`fechas=todas`), for a list that gives a default
    period when the URL names no date: it says every date, and so do both dates left blank.
    """

    low: str = "desde"
    high: str = "hasta"
    every: str | None = None
    every_value = "todas"
    kind = "dates"
    swapped = "la fecha inicial era posterior a la final"
    between, from_only, to_only = "desde {low} al {high}", "desde {low}", "hasta {high}"

    @property
    def params(self):
        return (self.low, self.high) + ((self.every,) if self.every else ())

    def parse(self, args, column, state):
        if self.every is None:
            return super().parse(args, column, state)
        asked = first_of(args, self.every)
        if asked == self.every_value:
            # The box wins over dates still in the form: it is how a person clears a default period.
            state.form.update({self.low: "", self.high: "", self.every: True})
            return None
        if asked:
            state.notices.append(f"«{shown(asked)}» no es un valor válido de {column.label}; se ignoró.")
        bounds = super().parse(args, column, state)
        state.form[self.every] = bounds is None
        return bounds

    def url_values(self, form):
        values = super().url_values(form)
        if self.every:
            values[self.every] = self.every_value if form.get(self.every) else None
        return values

    @property
    def start(self):
        return self.low

    @property
    def end(self):
        return self.high

    def read(self, text):
        return parse_date(text)

    def invalid(self, raw, label):
        return f"«{raw}» no es una fecha válida de {label} (usa DD/MM/AAAA); se ignoró."

    def write(self, day):
        # The form shows DD/MM/AAAA whatever the browser's locale.
        return day_text(day)

    def link(self, day):
        # Links write AAAA-MM-DD: one spelling per date, so a bookmark or a cache key never doubles.
        return day.isoformat()


@dataclass(frozen=True)
class NumberRange(Range):
    """Whole numbers from and/or to: `usuarios_min=2&usuarios_max=10`."""

    kind = "numbers"
    between, from_only, to_only = "de {low} a {high}", "{low} o más", "hasta {high}"

    def read(self, text):
        if len(text) > 12:  # longer than any INTEGER (and int() of a long text is itself work)
            return None
        try:
            value = int(text)
        except ValueError:
            return None
        # A column's INTEGER: PostgreSQL refuses a value outside it (a 500, not an ignored filter).
        return value if -2**31 <= value < 2**31 else None

    def invalid(self, raw, label):
        return f"«{raw}» no es un número válido para {label}; se ignoró."

    def write(self, value):
        return str(value)

    def say(self, value):
        return number(value)


@dataclass(frozen=True)
class Text(OneParameter):
    """Contains the text, ignoring case: `serie=SAE12`."""

    param: str
    kind = "text"

    def parse(self, args, column, state):
        value = (first_of(args, self.param) or "")[:MAX_SEARCH]
        state.form[self.param] = value
        return value.lower() or None

    def condition(self, column, value):
        return func.lower(column.expr).like(like_pattern(value), escape="\\")

    def describe(self, column, value, state):
        return state.form[self.param]


# --- columns ---------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Column:
    """One column: `key` (its word in sort/cols/group), Spanish `label`, SQL `expr`, `kind` (text,
    number, date → DD/MM/AAAA), `filter` (Choice, DateRange, NumberRange, Text), `labels` (stored
    value → Spanish), `empty` (text for NULL), `html` (value → Markup; CSV uses the text).
    `nullable`: NULLs sort last ascending, first descending on both databases (leave False on an
    indexed NOT NULL sort, so the index serves the ORDER BY). `group_values`: (**scope) → a SELECT
    of the group's values an index answers in order; a grouped page is then read group by group.
    """

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
    # Names of the page's per-request values (grid_response(cells=...)) that `html` takes as keywords.
    html_args: tuple = ()
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
            return day_text(value)
        return str(value)

    def cell(self, value, **cells):
        """The cell as HTML text: `html`'s Markup as it is, any other text escaped as Jinja would."""
        if self.html is not None and value is not None:
            html = self.html(value, **cells)
            return str(html) if isinstance(html, Markup) else html_text(html)
        return html_text(self.text(value))

    def csv(self, value):
        text = self.text(value)
        return csv_safe(text) if self.kind == "text" else text

    def ordered(self, descending):
        if not self.nullable:
            return self.expr.desc() if descending else self.expr.asc()
        # NULL is "greater than everything" on both databases (PostgreSQL's own rule).
        return self.expr.desc().nulls_first() if descending else self.expr.asc().nulls_last()

    def relabel(self, label, **changes):
        """The same column under another label (e.g. "Vigencia desde" → "Inicio")."""
        return replace(self, label=label, **changes)
