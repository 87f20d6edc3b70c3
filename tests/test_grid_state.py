"""The grid's query string → state, without a client, an app or a database: plain values in, plain values out."""
from werkzeug.datastructures import MultiDict

from portal.grid import state as grid_state
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
