"""Mis Servicios over HTTP: the seven grids, fragments, CSV, remembered columns, other desks."""
import csv
import io
from datetime import date, timedelta

import pytest
from jinja2 import ChoiceLoader, DictLoader

from portal.services.stamps import credit_stamps, record_stamp_use
from portal.extensions import db
from tests import factories

PAGES = {
    "suscripciones": ("Sistemas en Suscripción", ["Sistema", "Versión", "Usuarios", "No. Serie", "Fecha Activación", "Próximo Pago"]),
    "licenciamiento": ("Sistemas en Licenciamiento", ["Sistema", "Versión", "Usuarios", "No. Serie", "Fecha Activación"]),
    "servidor-virtual": ("Servidor virtual", ["Servicio", "Plan", "Capacidad", "Vigencia desde", "Vigencia hasta", "Estatus"]),
    "espacio": ("Espacio", ["Servicio", "Plan", "Capacidad", "Vigencia desde", "Vigencia hasta", "Estatus"]),
    "polizas": ("Mis Pólizas", ["Póliza", "Sistema", "Plan", "Vigencia desde", "Vigencia hasta", "Estatus"]),
    "sellado-cfdi": ("Sellado CFDI", ["Servicio", "Paquete", "Vigencia desde", "Vigencia hasta", "Estatus"]),
    "cursos": ("Cursos", ["Curso", "Modalidad", "Inicio", "Fin", "Estatus"]),
}


def headers_of(html):
    """The column headers of the grid table, in order."""
    import re
    head = html.split("<thead>", 1)[1].split("</thead>", 1)[0]
    return [re.sub(r"<[^>]+>|[▲▼]", "", cell).strip() for cell in re.findall(r"<th scope=\"col\"[^>]*>(.*?)</th>", head)
            if "Acciones" not in cell]


@pytest.fixture
def signed_in(client, world, login):
    login(world.a.user)
    return world


@pytest.mark.parametrize("category", list(PAGES))
def test_each_page_shows_its_title_columns_and_the_desks_rows(client, signed_in, category):
    title, columns = PAGES[category]
    today = factories.today()
    activated, valid_until = today - timedelta(days=400), today + timedelta(days=200)
    extra = {"name": "Servicio de prueba", "plan": "Plan Plus", "capacity": "50 GB", "activated_on": activated,
             "valid_from": today - timedelta(days=100), "valid_until": valid_until}
    factories.service(signed_in.a.desk, category=category, serial=f"MIO-{category}", **extra)
    factories.service(signed_in.b.desk, category=category, serial=f"AJENO-{category}", name="Servicio ajeno")
    html = client.get(f"/servicios/{category}").get_data(as_text=True)
    assert f"<h1>{title}</h1>" in html
    assert headers_of(html) == columns
    assert "Buscar..." in html and "Filtro" in html and "Columnas" in html and "Aplicar" in html
    assert "Arrastra una columna aquí para agrupar por ella" in html and "Agrupar por" in html
    assert "Página 1 de 1 (1 elemento)" in html and "Exportar CSV" in html
    assert 'href="https://tienda.example/aspel"' in html  # Seguir comprando
    assert html.count(">Seguir comprando<") == 1  # the menu's; the page does not repeat it
    assert "Servicio ajeno" not in html and f"AJENO-{category}" not in html
    if category in ("suscripciones", "licenciamiento"):
        assert f"MIO-{category}" in html and f"{activated:%d/%m/%Y}" in html
    else:
        assert "Servicio de prueba" in html and f"{valid_until:%d/%m/%Y}" in html


def test_an_empty_desk_gets_a_friendly_empty_state(client, signed_in):
    html = client.get("/servicios/suscripciones").get_data(as_text=True)
    assert "Aún no tienes sistemas en suscripción en este escritorio." in html
    assert "<table" not in html and "Buscar..." not in html
    assert html.count('href="https://tienda.example/aspel"') >= 2
    assert html.count(">Seguir comprando<") == 1


def test_a_search_without_results_says_so_and_offers_to_clear(client, signed_in):
    factories.service(signed_in.a.desk, serial="SAE000000001")
    html = client.get("/servicios/suscripciones?q=inexistente").get_data(as_text=True)
    assert "Ningún elemento coincide con la búsqueda o los filtros." in html
    assert 'href="/servicios/suscripciones">Limpiar filtros' in html


def test_htmx_gets_only_the_grid_and_the_short_url_to_push(client, signed_in, hx):
    for n in range(3):
        factories.service(signed_in.a.desk, product_code=("SAE", "COI", "SAE")[n], serial=f"S-{n}")
    url = "/servicios/suscripciones?q=sae&cols=&cols=sistema&cols=serie&group=&estatus=&desde=&per_page=25&sort=serie"
    full = client.get(url)
    fragment = client.get(url, headers=hx)
    for response in (full, fragment):
        assert response.status_code == 200
        assert "HX-Request" in response.headers["Vary"]
    page_html, part = full.get_data(as_text=True), fragment.get_data(as_text=True)
    assert "<html" in page_html and "<html" not in part
    assert part.lstrip().startswith('<div id="grid-servicios-suscripciones" class="grid"')
    assert "Buscar..." not in part  # the toolbar stays in the page, untouched
    assert headers_of(part) == ["Sistema", "No. Serie"]
    # Serials as cells (a bare "S-1" can turn up inside a random CSRF token).
    assert ">S-0<" in part and ">S-2<" in part and ">S-1<" not in part
    assert fragment.headers["HX-Push-Url"] == "/servicios/suscripciones?q=sae&sort=serie&cols=sistema,serie"
    assert "HX-Push-Url" not in full.headers
    # The toolbar's state-dependent parts come along out of band, as a reload would show them.
    assert '<span class="grid-count" id="grid-servicios-suscripciones-filter-count" hx-swap-oob="true"></span>' in part
    assert ('<p class="grid-menu-foot" id="grid-servicios-suscripciones-clear" hx-swap-oob="true">'
            '<a href="/servicios/suscripciones?sort=serie&amp;cols=sistema,serie">Limpiar filtros</a>') in part
    assert "hx-swap-oob" not in page_html


def test_sorting_headers_carry_aria_sort_and_toggle(client, signed_in):
    factories.service(signed_in.a.desk)
    html = client.get("/servicios/suscripciones?sort=serie").get_data(as_text=True)
    assert '<th scope="col" aria-sort="ascending"><a id="grid-servicios-suscripciones-sort-serie" ' \
           'href="/servicios/suscripciones?sort=-serie"' in html
    assert html.count("aria-sort=") == 1
    assert 'href="/servicios/suscripciones?sort=version"' in html


def test_bad_parameters_give_the_page_with_notices_never_an_error(client, signed_in, hx):
    factories.service(signed_in.a.desk, serial="SAE-BIEN")
    url = ("/servicios/suscripciones?cols=desconocida&page=-3&per_page=1000000&desde=31/02/2020"
           "&sort=;drop&group=cda&q=" + "x" * 5000)
    for headers in ({}, hx):
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        for notice in ("Se ignoraron columnas desconocidas: «desconocida».",
                       "La página «-3» no es válida; se muestra la página 1.",
                       "Se muestran como máximo 100 filas por página.",
                       "«31/02/2020» no es una fecha válida de Fecha Activación (usa DD/MM/AAAA); se ignoró.",
                       "No se puede ordenar por «;drop»; se usa el orden predeterminado.",
                       "No se puede agrupar por «cda»; se muestra la lista sin agrupar.",
                       "La búsqueda se recortó a 100 caracteres."):
            assert notice in html
    for odd in ("?page=1e9", "?per_page=0", "?sort=-", "?cols=,,,", "?usuarios_min=99999999999999",
                "?desde=2020-13-01", "?q=%25%5F%5C", "?page=99999999999999999999"):
        assert client.get("/servicios/suscripciones" + odd).status_code == 200, odd
    # NUL is refused before any view (portal/sanity.py): PostgreSQL cannot even compare it.
    refused = client.get("/servicios/suscripciones?producto=%00")
    assert refused.status_code == 400 and "caracteres no válidos" in refused.get_data(as_text=True)


def test_unknown_category_is_404(client, signed_in):
    assert client.get("/servicios/contabilidad").status_code == 404


def test_csv_is_the_current_filter_sort_and_columns_streamed_with_bom(client, signed_in):
    factories.service(signed_in.a.desk, product_code="SAE", serial="SAE-1", activated_on=date(2024, 2, 29))
    factories.service(signed_in.a.desk, product_code="SAE", serial="SAE-2", activated_on=date(2025, 7, 1))
    factories.service(signed_in.a.desk, product_code="COI", serial="COI-1")
    factories.service(signed_in.b.desk, product_code="SAE", serial="SAE-AJENO")
    response = client.get("/servicios/suscripciones?formato=csv&producto=SAE&sort=activacion&cols=serie,activacion")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.content_type == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="servicios-suscripciones-')
    assert response.headers["Cache-Control"] == "no-store, no-cache"
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows == [["No. Serie", "Fecha Activación"], ["SAE-1", "29/02/2024"], ["SAE-2", "01/07/2025"]]
    # The link on the page exports what the page shows.
    html = client.get("/servicios/suscripciones?producto=SAE&sort=activacion").get_data(as_text=True)
    assert 'href="/servicios/suscripciones?producto=SAE&amp;sort=activacion&amp;formato=csv" download>Exportar CSV' in html


def test_another_desk_sees_none_of_the_first_desks_rows_exports_included(client, world, login):
    factories.service(world.a.desk, serial="SAE-DE-A", product_code="SAE")
    login(world.b.user)
    html = client.get("/servicios/suscripciones?q=sae").get_data(as_text=True)
    assert "SAE-DE-A" not in html
    export = client.get("/servicios/suscripciones?formato=csv").get_data(as_text=True)
    assert "SAE-DE-A" not in export
    assert export.splitlines() == ["\ufeffSistema,Versión,Usuarios,No. Serie,Fecha Activación,Próximo Pago"]


def test_the_column_choice_is_remembered_per_user_and_grid_and_the_url_wins(client, world, login):
    factories.service(world.a.desk, serial="SAE-1")
    factories.service(world.b.desk, serial="SAE-2")
    login(world.a.user)
    saved = client.post("/servicios/suscripciones?q=sae", data={"cols": ["", "serie", "estatus"]})
    # Without JS, "Guardar columnas" comes back to the same list (its search kept) with them.
    assert saved.status_code == 303 and saved.headers["Location"] == "/servicios/suscripciones?q=sae&cols=serie,estatus"
    assert headers_of(client.get("/servicios/suscripciones").get_data(as_text=True)) == ["No. Serie", "Estatus"]
    # A link with cols= shows those columns, and changes nothing (a cross-site link cannot either).
    assert headers_of(client.get("/servicios/suscripciones?cols=sistema").get_data(as_text=True)) == ["Sistema"]
    assert headers_of(client.get("/servicios/suscripciones").get_data(as_text=True)) == ["No. Serie", "Estatus"]
    licenciamiento = factories.service(world.a.desk, category="licenciamiento", serial="LIC-1")
    assert licenciamiento and headers_of(client.get("/servicios/licenciamiento").get_data(as_text=True))[0] == "Sistema"
    client.post("/servicios/licenciamiento", data={"cols": "serie"})  # a second grid's choice, kept beside the first
    assert headers_of(client.get("/servicios/licenciamiento").get_data(as_text=True)) == ["No. Serie"]
    assert headers_of(client.get("/servicios/suscripciones").get_data(as_text=True)) == ["No. Serie", "Estatus"]
    client.post("/cuenta/salir")
    login(world.b.user)
    assert headers_of(client.get("/servicios/suscripciones").get_data(as_text=True))[:2] == ["Sistema", "Versión"]


def test_columnas_saved_with_htmx_swap_the_list_in_place_with_the_toolbars_search(client, world, login, hx):
    factories.service(world.a.desk, serial="SAE-1", product_code="SAE")
    factories.service(world.a.desk, serial="COI-1", product_code="COI")
    login(world.a.user)
    # htmx posts the Columnas form with the toolbar's fields (hx-include) over the page's address.
    fragment = client.post("/servicios/suscripciones", headers=hx, data={"cols": ["", "serie"], "q": "coi"})
    assert fragment.status_code == 200 and fragment.headers["HX-Push-Url"] == "/servicios/suscripciones?q=coi&cols=serie"
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and headers_of(html) == ["No. Serie"] and ">COI-1<" in html and ">SAE-1<" not in html
    assert headers_of(client.get("/servicios/suscripciones").get_data(as_text=True)) == ["No. Serie"]


def test_columnas_with_an_unknown_column_or_none_keep_nothing_and_say_why(client, world, login, hx):
    factories.service(world.a.desk, serial="SAE-1")
    login(world.a.user)
    client.post("/servicios/suscripciones", data={"cols": ["", "serie"]})
    for cols, notice in ((["", "serie", "zzz"], "Se ignoraron columnas desconocidas: «zzz»."),
                         ([""], "Elige al menos una columna; se muestran las columnas predeterminadas.")):
        for headers in ({}, hx):
            refused = client.post("/servicios/suscripciones", data={"cols": cols}, headers=headers)
            assert refused.status_code == 422 and notice in refused.get_data(as_text=True)
            assert headers_of(client.get("/servicios/suscripciones").get_data(as_text=True)) == ["No. Serie"]


def test_columnas_need_the_csrf_token_and_a_signed_in_user(app, client, world, login):
    factories.service(world.a.desk, serial="SAE-1")
    login(world.a.user)
    app.config["WTF_CSRF_ENABLED"] = True  # a cross-site form has no token
    refused = client.post("/servicios/suscripciones", data={"cols": "serie"})
    assert refused.status_code == 400 and "<html" in refused.get_data(as_text=True)
    assert headers_of(client.get("/servicios/suscripciones").get_data(as_text=True))[0] == "Sistema"
    app.config["WTF_CSRF_ENABLED"] = False
    anonymous = app.test_client().post("/servicios/suscripciones", data={"cols": "serie"})
    assert anonymous.status_code in (302, 303) and "/cuenta/ingresar" in anonymous.headers["Location"]


def test_columns_panel_reflects_the_choice_and_hidden_fields_reach_the_row_action(app, client, signed_in):
    app.jinja_env.loader = ChoiceLoader([
        DictLoader({"cda/_row_action.html": "{% macro row_action(row, csrf, here_path) %}"
                                            "[{{ row.id }}|{{ row.serial }}|{{ row.acquisition }}]{% endmacro %}"}),
        app.jinja_env.loader,
    ])
    service = factories.service(signed_in.a.desk, serial="SAE-77", acquisition="fisica")
    html = client.get("/servicios/suscripciones?cols=sistema").get_data(as_text=True)
    assert f"[{service.id}|SAE-77|fisica]" in html
    assert '<input type="checkbox" name="cols" value="sistema" checked> Sistema' in html
    assert '<input type="checkbox" name="cols" value="serie"> No. Serie' in html
    assert ">SAE-77</td>" not in html  # hidden column, still carried by the row (cells carry a data-label)


def test_grouping_shows_group_rows_with_counts(client, signed_in):
    for code in ("SAE", "SAE", "COI"):
        factories.service(signed_in.a.desk, product_code=code)
    html = client.get("/servicios/suscripciones?group=sistema").get_data(as_text=True)
    assert '<th scope="rowgroup" colspan="7">Sistema: COI (1)</th>' in html
    assert '<th scope="rowgroup" colspan="7">Sistema: SAE (2)</th>' in html
    assert '<option value="sistema" selected>Sistema</option>' in html


def test_sellado_cfdi_shows_the_stamp_balance(client, signed_in, hx):
    desk = signed_in.a.desk
    credit_stamps(desk.id, 1500, "prueba:1")
    record_stamp_use(desk.id, 320, "prueba:2")
    db.session.commit()
    factories.service(desk, category="sellado-cfdi", name="Sellado CFDI 4.0", plan="1000 Timbres", acquisition=None)
    html = client.get("/servicios/sellado-cfdi").get_data(as_text=True)
    assert "Saldo de timbres" in html
    assert "<dt>Recibidos</dt><dd>1,500</dd>" in html
    assert "<dt>Utilizados</dt><dd>320</dd>" in html
    assert "<dt>Disponibles</dt><dd>1,180</dd>" in html
    assert "Saldo de timbres" not in client.get("/servicios/sellado-cfdi", headers=hx).get_data(as_text=True)


def test_paging_links_keep_the_state(client, signed_in):
    for n in range(12):
        factories.service(signed_in.a.desk, serial=f"SAE-{n:02d}")
    html = client.get("/servicios/suscripciones?sort=serie&per_page=5&q=sae").get_data(as_text=True)
    assert "Página 1 de 3 (12 elementos)" in html
    assert 'href="/servicios/suscripciones?q=sae&amp;sort=serie&amp;per_page=5&amp;page=2"' in html
    second = client.get("/servicios/suscripciones?sort=serie&per_page=5&q=sae&page=2").get_data(as_text=True)
    assert "Página 2 de 3 (12 elementos)" in second
    assert "SAE-05" in second and "SAE-04" not in second and "SAE-10" not in second


def test_a_column_choice_saved_meanwhile_in_another_tab_is_no_error(client, signed_in):
    from sqlalchemy import event, insert
    from sqlalchemy.orm import Session

    from portal.models import GridPreference

    factories.service(signed_in.a.desk, serial="SAE-1")

    def other_tab_saves_first(_session, _context, _instances):
        with db.engine.begin() as connection:
            connection.execute(insert(GridPreference).values(
                user_id=signed_in.a.user.id, grid="servicios-suscripciones", columns="sistema"))

    event.listen(Session, "before_flush", other_tab_saves_first, once=True)
    try:
        response = client.get("/servicios/suscripciones?cols=serie")
    finally:
        if event.contains(Session, "before_flush", other_tab_saves_first):
            event.remove(Session, "before_flush", other_tab_saves_first)
    assert response.status_code == 200
    assert headers_of(response.get_data(as_text=True)) == ["No. Serie"]
