"""The grid's query string → state, without a client, an app or a database: plain values in, plain values out."""
from datetime import date

from werkzeug.datastructures import MultiDict

from portal import clock
from portal.grid import state as grid_state
from portal.prepaid.grids import KEYS, months_before, with_default_period
from portal.services.grids import GRIDS

SUBS = GRIDS["suscripciones"]


def test_a_plain_dict_is_parsed_without_flask_or_a_database():
    state = grid_state.parse(SUBS, {"q": "  Sáe   NUEVE sae ", "sort": "-serie", "page": "3", "per_page": "10",
                                    "group": "estatus", "cols": "serie,sistema", "estatus": ["activo"]})
    assert (state.q, state.words) == ("Sáe NUEVE sae", ("sae", "nueve"))
    assert (state.sort, state.descending, state.page, state.per_page, state.group) == ("serie", True, 3, 10, "estatus")
    assert (state.columns, state.columns_explicit) == (["sistema", "serie"], True)
    assert state.filters == {"estatus": ("activo",)} and state.notices == []
    assert state.searches_text  # a search word: its statements are planned with it


def test_dates_are_read_in_either_spelling_shown_dd_mm_aaaa_and_linked_aaaa_mm_dd():
    state = grid_state.parse(SUBS, MultiDict({"desde": "01/06/2024", "hasta": "2025-01-10"}))
    assert state.form["desde"] == "01/06/2024" and state.form["hasta"] == "10/01/2025"
    assert state.query() == {"desde": "2024-06-01", "hasta": "2025-01-10"}
    bad = grid_state.parse(SUBS, {"pago_desde": "2025-02-30"})
    assert bad.notices == ["«2025-02-30» no es una fecha válida de Próximo Pago (usa DD/MM/AAAA); se ignoró."]
    assert bad.form["pago_desde"] == "" and "pago_desde" not in bad.query()


def test_a_page_beyond_the_deepest_is_capped_and_the_notice_waits_for_the_rows():
    state = grid_state.parse(SUBS, {"page": "99999", "per_page": "100"})
    deepest = grid_state.MAX_OFFSET // 100 + 1
    assert (state.page, state.asked_page, state.notices) == (deepest, 99999, [])
    assert grid_state.capped_notice(state) == (
        f"Solo se puede avanzar hasta la página {deepest:,}; usa Buscar o Filtro para acotar la lista.")
    assert grid_state.capped_notice(grid_state.parse(SUBS, {"page": "2"})) is None


def test_the_print_view_asks_page_one_of_up_to_the_print_limit_and_its_links_stay_printable():
    state = grid_state.parse(SUBS, {"formato": "IMPRIMIR", "page": "7", "per_page": "50", "sort": "serie"})
    assert (state.printing, state.export, state.page, state.per_page) == (True, False, 1, grid_state.PRINT_LIMIT)
    assert state.query() == {"sort": "serie", "formato": "imprimir"}
    assert state.query(formato=None) == {"sort": "serie"}
    listed = grid_state.parse(SUBS, {"page": "7", "per_page": "50", "usuarios_min": "2"})
    assert listed.query(formato="imprimir") == {"usuarios_min": "2", "formato": "imprimir"}
    assert listed.query(formato="csv") == {"usuarios_min": "2", "per_page": 50, "page": 7, "formato": "csv"}


def test_links_set_or_drop_the_grouping_and_go_back_to_page_one():
    state = grid_state.parse(SUBS, {"group": "sistema", "page": "2"})
    assert state.query(group=None) == {}
    assert state.query(group="estatus") == {"group": "estatus"}
    assert not state.searches_text and grid_state.parse(SUBS, {"serie": "SAE"}).searches_text


def keys_state(today, **values):
    """Claves prepago's state for `values`, as its view reads them (the default period where no date is named)."""
    return grid_state.parse(KEYS, with_default_period(MultiDict(values), today))


def test_todas_las_fechas_and_both_dates_cleared_mean_every_date_and_say_so_in_the_url():
    today = clock.today("America/Mexico_City")
    since = months_before(today, 2)
    fresh = keys_state(today)  # only a visit naming no date gets the last two months
    assert fresh.filters["fecha"] == (since, today) and fresh.form["fechas"] is False
    assert fresh.query() == {"desde": since.isoformat(), "hasta": today.isoformat()}

    for values in ({"fechas": "todas"}, {"desde": "", "hasta": ""}, {"desde": " "},
                   # The box wins over the dates still in the form: that is how a person clears the period.
                   {"fechas": "todas", "desde": "01/10/2026", "hasta": "31/10/2026"}):
        state = keys_state(today, **values)
        assert "fecha" not in state.filters and state.notices == [], values
        assert state.form["fechas"] is True and state.form["desde"] == state.form["hasta"] == ""
        # Said back as fechas=todas: a link, a bookmark or a reload never falls back to the default period.
        assert state.query() == {"fechas": "todas"}
        assert keys_state(today, **state.query()).filters == {}

    open_ended = keys_state(today, desde="01/10/2026", hasta="")
    assert open_ended.filters["fecha"] == (date(2026, 10, 1), None) and open_ended.form["fechas"] is False
    assert open_ended.query() == {"desde": "2026-10-01"}
    bad = keys_state(today, fechas="algunas")
    assert bad.notices == ["«algunas» no es un valor válido de Fecha; se ignoró."] and bad.query() == {"fechas": "todas"}


def test_a_date_filter_without_a_default_period_has_no_todas_las_fechas():
    state = grid_state.parse(SUBS, MultiDict({"fechas": "todas", "desde": "", "hasta": ""}))
    assert state.filters == {} and "fechas" not in state.form and state.query() == {}
