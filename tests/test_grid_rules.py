"""The grid's rules without a client: every query parameter turned into SQL, on each database."""
import csv
import io
from datetime import date

import pytest
from sqlalchemy import event
from werkzeug.datastructures import MultiDict

from portal.grid import query as grid_query, state as grid_state
from portal.extensions import db
from portal.column_choices import remember_columns, saved_columns
from portal.services.grids import GRIDS
from tests import factories

SUBS = GRIDS["suscripciones"]


def args(**values):
    return MultiDict([(k, v) for k, vs in values.items() for v in (vs if isinstance(vs, list) else [vs])])


def run(grid, desk, **query):
    """Parse and fetch: the page a user would see."""
    state = grid.parse(args(**query))
    return grid.draw(state, desk_id=desk.id)


def serials(page):
    """The serials of the page's rows, in order (through the id every row carries)."""
    from portal.models import Service
    return [db.session.get(Service, line.row.id).serial for line in page.lines if line.row is not None]


@pytest.fixture
def desk(world):
    """Desk A with twelve subscriptions of three products, varied versions, users and dates."""
    plan = [("SAE", "9.0", 5, date(2025, 1, 10)), ("SAE", "8.0", 1, date(2024, 6, 1)),
            ("COI", "10.0", 3, date(2025, 3, 14)), ("NOI", "11.0", 10, date(2023, 12, 31)),
            ("SAE", "9.0", 10, date(2025, 1, 10)), ("COI", "10.0", 1, date(2022, 2, 28)),
            ("NOI", "11.0", 5, date(2024, 11, 5)), ("SAE", "9.0", 2, date(2021, 7, 7)),
            ("COI", "9.0", 5, date(2025, 9, 9)), ("SAE", "9.0", 1, date(2025, 10, 1)),
            ("NOI", "10.0", 3, date(2024, 1, 20)), ("COI", "10.0", 4, date(2023, 5, 5))]
    for n, (code, version, users, activated) in enumerate(plan):
        factories.service(world.a.desk, product_code=code, version=version, users=users, activated_on=activated,
                          serial=f"{code}-{n:03d}", status="vencido" if n % 4 == 0 else "activo",
                          acquisition="fisica" if n % 3 == 0 else "electronica")
    factories.service(world.b.desk, product_code="SAE", serial="AJENO-001")  # another desk's: never shown
    return world.a.desk


def all_rows(desk):
    from portal.models import Service
    return db.session.query(Service).filter_by(desk_id=desk.id, category="suscripciones").all()


def test_defaults_show_the_desks_rows_newest_activation_first(desk):
    page = run(SUBS, desk)
    expected = sorted(all_rows(desk), key=lambda s: (s.activated_on, s.id), reverse=True)
    assert serials(page) == [s.serial for s in expected]
    assert "AJENO-001" not in serials(page)
    assert (page.total, page.exact, page.state.notices) == (12, True, [])
    assert page.info == "Página 1 de 1 (12 elementos)"


@pytest.mark.parametrize("key,attr", [("sistema", None), ("version", "version"), ("usuarios", "users"),
                                      ("serie", "serial"), ("activacion", "activated_on")])
@pytest.mark.parametrize("descending", [False, True])
def test_every_sortable_column_sorts_both_ways_and_ties_break_by_id(desk, key, attr, descending):
    page = run(SUBS, desk, sort=("-" if descending else "") + key)
    value = (lambda s: s.product.code) if attr is None else (lambda s: getattr(s, attr))
    expected = sorted(all_rows(desk), key=lambda s: (value(s), s.id), reverse=descending)
    assert serials(page) == [s.serial for s in expected]
    assert page.state.notices == []


def test_search_ignores_accents_and_case_and_needs_every_word(world):
    factories.service(world.a.desk, category="polizas", product_code="SAE", name="Póliza Médica Integral",
                      serial="POL-1", acquisition=None)
    factories.service(world.a.desk, category="polizas", product_code="COI", name="Póliza Básica",
                      serial="POL-2", acquisition=None)
    polizas = GRIDS["polizas"]
    for q in ("medica", "MÉDICA", "  poliza   médica ", "médica sae"):
        assert serials(run(polizas, world.a.desk, q=q)) == ["POL-1"], q
    assert serials(run(polizas, world.a.desk, q="medica coi")) == []
    assert sorted(serials(run(polizas, world.a.desk, q="póliza"))) == ["POL-1", "POL-2"]
    # LIKE wildcards typed by the user are plain characters.
    assert serials(run(polizas, world.a.desk, q="%")) == []
    assert serials(run(polizas, world.a.desk, q="_")) == []


def test_search_text_follows_changes_to_the_service(world):
    service = factories.service(world.a.desk, category="espacio", name="Respaldo 10 GB", serial="ESP-1",
                                acquisition=None, product_code="SAE")
    service.name = "Almacén en línea"
    db.session.commit()
    espacio = GRIDS["espacio"]
    assert serials(run(espacio, world.a.desk, q="almacen linea")) == ["ESP-1"]
    assert serials(run(espacio, world.a.desk, q="respaldo")) == []


def test_choice_filters_status_product_and_acquisition(desk):
    rows = all_rows(desk)
    page = run(SUBS, desk, estatus="vencido")
    assert sorted(serials(page)) == sorted(s.serial for s in rows if s.status == "vencido")
    page = run(SUBS, desk, producto=["SAE", "NOI"])
    assert sorted(serials(page)) == sorted(s.serial for s in rows if s.product.code in ("SAE", "NOI"))
    page = run(SUBS, desk, adquisicion="fisica", estatus="activo")
    assert sorted(serials(page)) == sorted(s.serial for s in rows if s.acquisition == "fisica" and s.status == "activo")
    assert page.filter_count == 2


def test_date_range_includes_both_ends_and_accepts_dd_mm_aaaa(desk):
    rows = all_rows(desk)
    expected = sorted(s.serial for s in rows if date(2024, 6, 1) <= s.activated_on <= date(2025, 1, 10))
    assert sorted(serials(run(SUBS, desk, desde="2024-06-01", hasta="2025-01-10"))) == expected
    assert sorted(serials(run(SUBS, desk, desde="01/06/2024", hasta="10/01/2025"))) == expected
    only_start = run(SUBS, desk, desde="2025-03-14")
    assert sorted(serials(only_start)) == sorted(s.serial for s in rows if s.activated_on >= date(2025, 3, 14))
    swapped = run(SUBS, desk, desde="2025-01-10", hasta="2024-06-01")
    assert sorted(serials(swapped)) == expected
    assert swapped.state.notices == ["En Fecha Activación la fecha inicial era posterior a la final; se intercambiaron."]
    assert (swapped.state.form["desde"], swapped.state.form["hasta"]) == ("01/06/2024", "10/01/2025")
    assert swapped.state.query() == {"desde": "2024-06-01", "hasta": "2025-01-10"}


def test_number_range_and_text_filter(desk):
    rows = all_rows(desk)
    page = run(SUBS, desk, usuarios_min="3", usuarios_max="5")
    assert sorted(serials(page)) == sorted(s.serial for s in rows if 3 <= s.users <= 5)
    assert sorted(serials(run(SUBS, desk, serie="coi-"))) == sorted(s.serial for s in rows if s.serial.startswith("COI"))


def test_a_number_past_a_whole_column_is_ignored_with_a_notice_and_its_edges_are_read(desk):
    unfiltered = serials(run(SUBS, desk))
    past = run(SUBS, desk, usuarios_min="2147483648", usuarios_max="-2147483649")
    assert past.state.filters == {} and serials(past) == unfiltered
    assert past.state.notices == ["«2147483648» no es un número válido para Usuarios; se ignoró.",
                                  "«-2147483649» no es un número válido para Usuarios; se ignoró."]
    edges = run(SUBS, desk, usuarios_min="-2147483648", usuarios_max="2147483647")
    assert edges.state.notices == [] and edges.filter_count == 1 and serials(edges) == unfiltered


def test_bad_parameters_become_defaults_with_a_spanish_notice(desk):
    page = run(SUBS, desk, sort=";drop", page="-3", per_page="1000000", desde="31/02/2020", hasta="mañana",
               group="cda", cols="zzz", estatus="robado", usuarios_min="x", formato="pdf")
    state = page.state
    assert (state.sort, state.descending, state.page, state.per_page, state.group) == ("activacion", True, 1, 100, None)
    assert state.columns == SUBS.defaults and state.filters == {}
    assert state.notices == [
        "No se puede ordenar por «;drop»; se usa el orden predeterminado.",
        "Se muestran como máximo 100 filas por página.",
        "La página «-3» no es válida; se muestra la página 1.",
        "No se puede agrupar por «cda»; se muestra la lista sin agrupar.",
        "Se ignoraron columnas desconocidas: «zzz».",
        "Elige al menos una columna; se muestran las columnas predeterminadas.",
        "«x» no es un número válido para Usuarios; se ignoró.",
        "«31/02/2020» no es una fecha válida de Fecha Activación (usa DD/MM/AAAA); se ignoró.",
        "«mañana» no es una fecha válida de Fecha Activación (usa DD/MM/AAAA); se ignoró.",
        "«robado» no es un valor válido de Estatus; se ignoró ese filtro.",
        "El formato «pdf» no existe; se muestra la lista.",
    ]
    assert len(serials(page)) == 12
    assert not state.export


def test_paging_per_page_and_a_page_past_the_end(desk):
    expected = [s.serial for s in sorted(all_rows(desk), key=lambda s: (s.serial, s.id))]
    second = run(SUBS, desk, sort="serie", per_page="5", page="2")
    assert serials(second) == expected[5:10]
    assert second.has_next and second.info == "Página 2 de 3 (12 elementos)"
    assert second.page_numbers == [1, 2, 3]
    past = run(SUBS, desk, sort="serie", per_page="5", page="9")
    assert serials(past) == expected[10:]
    assert past.state.page == 3 and not past.has_next
    assert past.state.notices == ["La página 9 no existe; se muestra la última (3)."]
    bad = run(SUBS, desk, per_page="cinco")
    assert bad.state.per_page == 25
    assert bad.state.notices == ["«cinco» no es un número de filas por página válido; se muestran 25."]


def test_a_deep_page_past_the_end_gets_one_message(desk):
    page = run(SUBS, desk, page="99999", per_page="10")
    assert page.state.page == 2 and serials(page)
    assert page.state.notices == ["La página 99,999 no existe; se muestra la última (2)."]


def test_deep_pages_are_capped_when_the_list_goes_that_far(desk, monkeypatch):
    monkeypatch.setattr(grid_state, "MAX_OFFSET", 4)  # page 3 of 2 rows is as deep as it goes
    page = run(SUBS, desk, sort="serie", page="9", per_page="2")
    expected = [s.serial for s in sorted(all_rows(desk), key=lambda s: (s.serial, s.id))]
    assert page.state.page == 3 and serials(page) == expected[4:6]
    assert page.state.notices == ["Solo se puede avanzar hasta la página 3; usa Buscar o Filtro para acotar la lista."]


def test_the_print_view_is_page_one_with_up_to_the_print_limit(desk, monkeypatch):
    state = SUBS.parse(args(formato="imprimir", page="3", per_page="5", estatus="activo", sort="serie"))
    assert (state.printing, state.page, state.per_page, state.export) == (True, 1, grid_state.PRINT_LIMIT, False)
    page = SUBS.draw(state, desk_id=desk.id)
    active = sorted(s.serial for s in all_rows(desk) if s.status == "activo")
    assert serials(page) == active and page.printing and not page.more_than_printed
    assert page.print_limit == 1000 and state.notices == []
    monkeypatch.setattr(grid_state, "PRINT_LIMIT", 4)
    capped = run(SUBS, desk, formato="imprimir", estatus="activo", sort="serie")
    assert serials(capped) == active[:4] and capped.more_than_printed and capped.print_limit == 4


def test_links_to_the_print_view_keep_the_list_but_not_its_page(desk):
    page = run(SUBS, desk, q="sae", sort="serie", page="2", per_page="5", group="estatus")
    page.action = "/servicios/suscripciones"
    assert page.link(formato="imprimir") == "/servicios/suscripciones?q=sae&sort=serie&group=estatus&formato=imprimir"
    printed = run(SUBS, desk, q="sae", sort="serie", formato="imprimir")
    printed.action = "/servicios/suscripciones"
    assert printed.link() == "/servicios/suscripciones?q=sae&sort=serie&formato=imprimir"
    assert printed.link(formato=None) == "/servicios/suscripciones?q=sae&sort=serie"


def test_links_quote_a_search_as_a_form_would_send_it(desk):
    # Typed by a user: accents, spaces, & and = must come back as the same search, not new parameters.
    from urllib.parse import parse_qs, urlsplit
    page = run(SUBS, desk, q="Ferretería & Hijos=2 50%", sort="serie", page="2", per_page="5")
    page.action = "/servicios/suscripciones"
    link = page.link(page=3)
    assert link == ("/servicios/suscripciones?q=Ferreter%C3%ADa+%26+Hijos%3D2+50%25&sort=serie&per_page=5&page=3")
    assert parse_qs(urlsplit(link).query) == {"q": ["Ferretería & Hijos=2 50%"], "sort": ["serie"],
                                              "per_page": ["5"], "page": ["3"]}
    # The same pairs written again (a page's many links) come out the same.
    assert page.link(page=3) == link and page.link(sort="-serie").endswith("q=Ferreter%C3%ADa+%26+Hijos%3D2+50%25&sort=-serie&per_page=5")


def test_active_filters_say_the_search_and_each_filter_in_spanish(desk):
    page = run(SUBS, desk, q="SAE  nueve", estatus=["vencido", "activo"], desde="01/06/2024", hasta="2025-01-10",
               usuarios_min="3", usuarios_max="1500", serie="Coi-", pago_hasta="2030-12-31")
    assert page.active_filters == [
        ("Buscar", "SAE nueve"), ("Usuarios", "de 3 a 1,500"), ("No. Serie", "Coi-"),
        ("Fecha Activación", "desde 01/06/2024 al 10/01/2025"), ("Próximo Pago", "hasta 31/12/2030"),
        ("Estatus", "Activo, Vencido")]
    assert run(SUBS, desk, usuarios_min="2", desde="2024-06-01").active_filters == [
        ("Usuarios", "2 o más"), ("Fecha Activación", "desde 01/06/2024")]
    assert run(SUBS, desk).active_filters == []


def test_the_group_column_and_the_columns_a_list_can_be_grouped_by(desk):
    grouped = run(SUBS, desk, group="adquisicion", cols="serie")
    assert grouped.group_column is SUBS.by_key["adquisicion"]
    assert [c.key for c in grouped.groupable_columns] == ["sistema", "version", "usuarios", "adquisicion", "estatus"]
    grouped.action = "/l"
    assert grouped.link(group=None) == "/l?cols=serie"
    assert grouped.link(group="estatus") == "/l?group=estatus&cols=serie"
    assert run(SUBS, desk).group_column is None


def test_the_count_is_bounded_for_wide_lists(desk, monkeypatch):
    monkeypatch.setattr(grid_query, "COUNT_BOUND", 5)
    first = run(SUBS, desk, per_page="2")
    assert (first.total, first.exact, first.has_next) == (5, False, True)
    assert first.info == "Página 1 de más de 2 (más de 5 elementos)"
    deeper = run(SUBS, desk, per_page="4", page="2")
    assert (deeper.total, deeper.exact, deeper.has_next) == (8, False, True)
    assert deeper.info == "Página 2 de más de 2 (más de 8 elementos)"
    assert len(serials(deeper)) == 4
    last = run(SUBS, desk, per_page="5", page="3")  # the last page knows the exact total
    assert (last.total, last.exact, last.has_next, last.info) == (12, True, False, "Página 3 de 3 (12 elementos)")
    assert SUBS.count(SUBS.parse(args()), bound=None, desk_id=desk.id) == 12
    assert SUBS.count(SUBS.parse(args()), bound=5, desk_id=desk.id) == 6


@pytest.mark.parametrize("group", ["sistema", "version", "usuarios", "adquisicion", "estatus"])
def test_group_counts_add_up_to_the_filtered_count(desk, group):
    state = SUBS.parse(args(group=group, estatus="activo"))
    counts = SUBS.group_counts(state, desk_id=desk.id)
    assert sum(counts.values()) == SUBS.count(state, bound=None, desk_id=desk.id) == 9
    page = SUBS.draw(state, desk_id=desk.id)
    headers = [line.group for line in page.lines if line.group]
    assert len(headers) == len(counts)
    label = SUBS.by_key[group]
    for value, n in counts.items():
        assert f"{label.label}: {label.text(value)} ({n})" in headers


def test_grouped_rows_come_group_by_group_with_totals_on_every_page(desk):
    first = run(SUBS, desk, group="sistema", sort="serie", per_page="5")
    lines = [(line.group or line.row.serial) for line in first.lines]
    assert lines == ["Sistema: COI (4)", "COI-002", "COI-005", "COI-008", "COI-011",
                     "Sistema: NOI (3)", "NOI-003"]
    second = run(SUBS, desk, group="sistema", sort="serie", per_page="5", page="2")
    assert [(line.group or line.row.serial) for line in second.lines] == [
        "Sistema: NOI (3)", "NOI-006", "NOI-010", "Sistema: SAE (5)", "SAE-000", "SAE-001", "SAE-004"]


def test_columns_from_the_url_the_saved_choice_or_the_defaults(desk, world):
    assert SUBS.parse(args()).columns == ["sistema", "version", "usuarios", "serie", "activacion", "proximo_pago"]
    state = SUBS.parse(args(cols=["", "estatus", "sistema,serie"]))
    assert (state.columns, state.columns_explicit) == (["sistema", "serie", "estatus"], True)
    page = SUBS.draw(state, desk_id=desk.id)
    assert [c.label for c in page.columns] == ["Sistema", "No. Serie", "Estatus"]
    assert page.lines[0].row.acquisition in ("fisica", "electronica")  # hidden, but the row carries it
    user = world.a.user.id
    assert saved_columns(user, SUBS.name) is None
    assert remember_columns(user, SUBS.name, ["serie", "version"]) is True
    db.session.commit()
    assert remember_columns(user, SUBS.name, ["serie", "version"]) is False
    saved = SUBS.parse(args(), saved_columns=saved_columns(user, SUBS.name))
    assert (saved.columns, saved.columns_explicit) == (["version", "serie"], False)
    assert SUBS.parse(args(cols="sistema"), saved_columns=["serie"]).columns == ["sistema"]
    assert SUBS.parse(args(), saved_columns=["gone"]).columns == SUBS.defaults
    assert saved_columns(world.b.user.id, SUBS.name) is None


def test_only_the_visible_columns_are_selected_and_never_the_cda(desk):
    statements = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", remember)
    try:
        run(SUBS, desk, cols="sistema,serie", q="sae", group="estatus")
        list(SUBS.draw(SUBS.parse(args(cols="sistema,serie", formato="csv")), desk_id=desk.id))
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    page_query = next(s for s in statements if " IN (SELECT" in s)
    assert "services.version" not in page_query and "next_payment_on" not in page_query
    assert "services.status" in page_query  # the group's column
    assert all("cda" not in s for s in statements)


def test_the_query_string_is_compact_and_goes_back_to_page_one(desk):
    state = SUBS.parse(args(q="sae", estatus="activo", page="2", per_page="10", cols="sistema,serie"))
    assert state.query() == {"q": "sae", "estatus": ["activo"], "cols": "sistema,serie", "per_page": 10, "page": 2}
    assert state.query(sort="serie") == {"q": "sae", "estatus": ["activo"], "cols": "sistema,serie",
                                         "per_page": 10, "sort": "serie"}
    assert state.query(page=3)["page"] == 3
    assert state.query(formato="csv")["page"] == 2
    assert SUBS.parse(args()).query() == {}


def test_export_is_the_filtered_sorted_visible_rows_as_excel_friendly_csv(desk):
    factories.service(desk, product_code="ADM", serial="=HYPERLINK(1)", activated_on=date(2020, 2, 29))
    state = SUBS.parse(args(cols="serie,activacion,sistema", sort="activacion", desde="2020-01-01",
                            hasta="2022-12-31", page="2", per_page="1", formato="csv"))
    text = "".join(SUBS.draw(state, desk_id=desk.id))
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows == [["Sistema", "No. Serie", "Fecha Activación"],
                    ["ADM", "'=HYPERLINK(1)", "29/02/2020"],
                    ["SAE", "SAE-007", "07/07/2021"],
                    ["COI", "COI-005", "28/02/2022"]]


def test_another_desk_sees_none_of_these_rows(desk, world):
    page = run(SUBS, world.b.desk)
    assert serials(page) == ["AJENO-001"]
    text = "".join(SUBS.draw(SUBS.parse(args(formato="csv")), desk_id=world.b.desk.id))
    assert "AJENO-001" in text and "SAE-000" not in text


def test_a_lists_statements_are_composed_once_per_shape_and_each_request_brings_its_values(desk, world):
    grid_query._SHAPES.clear()
    rows = all_rows(desk)

    def kept(desk_id, **query):
        return grid_query.statements(SUBS, SUBS.parse(args(**query)), {"desk_id": desk_id})[0]

    # Same shape (scope, filters and which bounds, sort, columns), other values: the same statements.
    same = kept(desk.id, desde="2024-06-01", hasta="2025-01-10", estatus="activo", usuarios_min="3")
    assert kept(world.b.desk.id, desde="2020-01-01", hasta="2030-12-31", estatus=["vencido", "activo"],
                usuarios_min="1", page="2") is same
    # Another shape: a bound left out, another sort, other columns.
    assert kept(desk.id, desde="2024-06-01", estatus="activo", usuarios_min="3") is not same
    assert kept(desk.id, desde="2024-06-01", hasta="2025-01-10", estatus="activo", usuarios_min="3",
                sort="serie") is not same
    assert kept(desk.id, desde="2024-06-01", hasta="2025-01-10", estatus="activo", usuarios_min="3",
                cols="serie") is not same

    # And each request reads its own values through them: dates, choices, page, desk.
    expected = sorted(s.serial for s in rows if date(2024, 6, 1) <= s.activated_on <= date(2025, 1, 10)
                      and s.status == "activo" and s.users >= 3)
    assert sorted(serials(run(SUBS, desk, desde="2024-06-01", hasta="2025-01-10", estatus="activo",
                              usuarios_min="3"))) == expected
    wider = sorted(s.serial for s in rows if s.users >= 1)
    page_one = run(SUBS, desk, desde="2020-01-01", hasta="2030-12-31", estatus=["vencido", "activo"],
                   usuarios_min="1", per_page="10")
    page_two = run(SUBS, desk, desde="2020-01-01", hasta="2030-12-31", estatus=["vencido", "activo"],
                   usuarios_min="1", per_page="10", page="2")
    assert sorted(serials(page_one) + serials(page_two)) == wider
    assert (len(serials(page_one)), len(serials(page_two)), page_two.total) == (10, 2, 12)
    assert serials(run(SUBS, world.b.desk, desde="2020-01-01", hasta="2030-12-31", estatus=["vencido", "activo"],
                       usuarios_min="1")) == ["AJENO-001"]
    assert grid_query._SHAPES, "the lists above were read through kept statements"


@pytest.mark.parametrize("query", [{"q": "sae"}, {"serie": "coi"}, {"producto": "SAE"}])
def test_a_list_whose_values_are_read_in_python_is_composed_with_them(desk, query):
    # Search words, a text filter's pattern and a Choice's own `where` (products by code) read the
    # value in Python: those lists are composed for the request, never kept.
    grid_query._SHAPES.clear()
    statements, params = grid_query.statements(SUBS, SUBS.parse(args(**query)), {"desk_id": desk.id})
    assert (grid_query._SHAPES, params) == ({}, {})
    assert serials(run(SUBS, desk, **query))


def test_the_activity_days_are_composed_in_the_portals_time_zone(app, world):
    from portal.profile.activity import ACTIVITY
    grid_query._SHAPES.clear()
    state = ACTIVITY.parse(args(desde="2026-01-01"))
    grid_query.statements(ACTIVITY, state, {"user_id": world.a.user.id})
    assert grid_query._SHAPES == {}  # DayRange reads its day's start in TIMEZONE: composed with it


def test_only_statements_with_a_like_ask_to_be_planned_with_their_words(desk):
    from portal.postgres import PLAN_PER_EXECUTION

    seen = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, bool(context.execution_options.get(PLAN_PER_EXECUTION))))

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        run(SUBS, desk, q="sae", group="estatus")
        searched = list(seen)
        seen.clear()
        run(SUBS, desk, group="estatus")
        plain = list(seen)
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    assert searched and all(planned == ("LIKE" in sql) for sql, planned in searched), searched
    assert plain and not any(planned for _sql, planned in plain)
    # Nothing is left on the session's connection for the statements after the search.
    assert not db.session.connection().get_execution_options().get(PLAN_PER_EXECUTION)


def test_a_columns_html_gets_the_requests_values_it_names(desk):
    from portal.prepaid.grids import KEYS

    mine = factories.prepaid_key(desk, confirmed_on=date(2026, 1, 5))
    other = factories.prepaid_key(desk, confirmed_on=date(2026, 1, 4))
    page = KEYS.draw(KEYS.parse(args(desde="2026-01-01")), cells={"highlighted": {mine.code}}, desk_id=desk.id)
    cells = [str(line.cells_html) for line in page.lines]
    assert "Nueva" in cells[0] and mine.code[:4] in cells[0]
    assert "Nueva" not in cells[1] and other.code[:4] in cells[1]
