"""The one grid: every list of the portal (Mis Servicios, Claves prepago) is a `Grid`.

    KEYS = Grid("claves-prepago", tables=outerjoin(PrepaidKey, Client, ...), scope=lambda desk_id: [...],
                key=PrepaidKey.id, search=_search, default_sort="-fecha", row={"code": PrepaidKey.shown_code},
                columns=[Column("fecha", "Fecha", PrepaidKey.confirmed_on, kind="date",
                                filter=DateRange("desde", "hasta")), ...])

    return grid_response(KEYS, {"desk_id": desk.id},
                         GridTemplate("prepaid/keys.html", "keys_grid", context={...}, cells={"highlighted": codes}),
                         args=...)

The template gets `grid`, a GridPage (page.py); its toolbar is a GET form htmx never replaces,
and only the named block is swapped. One module per reason to change, imports running one way:
http (Flask: the response, "Columnas" kept) → page (rows, cells, CSV) → reading (a page's reads,
the group walk) → query (SQL statements) → state (the query string, no Flask, no database) →
columns (declarations, filters) → text (values as text, HTML, CSV). Give each filter + sort an
index that starts with the scope's columns and ends with the key (see query.py).

A request flows one way: the state names the list, query composes its statements, reading runs
them and returns a complete PageRead (rows, total, every group's size), and page draws it.

`scope` only compares columns with its values, never reads them in Python: a list's statements
are composed once per shape with each value a bound parameter (query.statements);
tests/test_grid_house_rules.py calls every grid's scope with values Python cannot read. A filter whose
condition reads its value says so (`bound` returns None) and is composed with it.
"""
from portal.grid.columns import Choice, Column, DateRange, NumberRange, Range, Text
from portal.grid.text import badge, day_text, like_pattern, parse_date
from portal.grid.http import GridTemplate, grid_response
from portal.grid.page import Grid, GridPage, Line
from portal.grid.state import PRINT_LIMIT, GridState

__all__ = [
    "Choice", "Column", "DateRange", "Grid", "GridPage", "GridState", "Line", "NumberRange", "PRINT_LIMIT",
    "Range", "Text", "badge", "day_text", "GridTemplate", "grid_response", "like_pattern", "parse_date",
]
