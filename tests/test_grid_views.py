"""The grid's controls over HTTP, without a browser: grouping links and chip, DD/MM/AAAA inputs, the
print view, and the parts htmx sends out of band. What the browser tests click, rendered here."""
import re
from datetime import date
from html import unescape
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from markupsafe import escape

from portal import clock
from portal.extensions import db
from portal.models import PrepaidKey
from portal import key_codes
from tests import factories


@pytest.fixture
def keys(client, world, login):
    """Desk a's keys in October 2026 (two used by one client), and its owner signed in."""
    desk = world.a.desk
    used_by = factories.client(desk, "Cliente Uno")
    for n in range(4):
        factories.prepaid_key(desk, confirmed_on=date(2026, 10, 1 + n))
    for n in range(2):
        factories.prepaid_key(desk, status="utilizada", client=used_by, confirmed_on=date(2026, 10, 10 + n))
    login(world.a.user)
    return desk


PERIOD = "desde=2026-10-01&hasta=2026-10-31"


def page(client, query="", **headers):
    response = client.get(f"/claves-prepago?{PERIOD}&{query}", headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def hrefs(html, pattern):
    return [unescape(h) for h in re.findall(pattern, html)]


def test_each_groupable_header_links_to_its_grouping_and_can_be_dragged(client, keys):
    html = page(client)
    for key, label in (("cantidad", "Cantidad"), ("estatus", "Estatus"), ("cliente", "Cliente")):
        assert f'data-group="{key}"' in html
        [href] = hrefs(html, rf'class="grid-group-by" href="([^"]+)" data-group-key="{key}" aria-label="Agrupar por {label}"')
        assert href == f"/claves-prepago?{PERIOD}&group={key}"
    assert 'data-group="clave"' not in html and 'data-group="fecha"' not in html
    assert "Arrastra una columna aquí para agrupar por ella" in html
    assert 'title="Agrupar por esta columna"' in html


def test_the_grouping_link_gives_the_rows_the_select_gives(client, keys):
    by_link = page(client, "group=cliente")
    by_select = page(client, "group=cliente&q=&estatus=&cliente=&activacion_desde=&activacion_hasta=")
    body = lambda html: html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert body(by_link) == body(by_select)
    assert "Cliente: Cliente Uno (2)" in body(by_link)


def test_grouped_the_panel_shows_a_chip_whose_x_ungroups_without_js(client, keys):
    html = page(client, "group=estatus&estatus=utilizada")
    assert re.search(r"Agrupado por: <strong>Estatus</strong>", html)
    [href] = hrefs(html, r'class="grid-chip-x" id="grid-claves-prepago-ungroup" href="([^"]+)"')
    assert href == f"/claves-prepago?{PERIOD}&estatus=utilizada"
    assert 'aria-label="Quitar agrupación por Estatus"' in html
    assert 'data-group="estatus"' not in html  # the current grouping is no drag source
    assert "Arrastra una columna aquí" not in html
    after = client.get(href).get_data(as_text=True)
    assert 'class="grid-group"' not in after and "Arrastra una columna aquí para agrupar por ella" in after


def test_htmx_gets_the_chip_out_of_band_with_the_grid(client, keys, hx):
    html = page(client, "group=cliente", **hx)
    assert "<html" not in html
    assert re.search(r'id="grid-claves-prepago-group-chip" hx-swap-oob="true"', html)
    assert "Agrupado por: <strong>Cliente</strong>" in html


def test_date_filters_are_text_inputs_showing_dd_mm_aaaa(client, keys):
    html = page(client)
    assert 'type="date"' not in html
    for name, value in (("desde", "01/10/2026"), ("hasta", "31/10/2026")):
        field = re.search(rf'<input type="text" name="{name}"[^>]*>', html).group(0)
        assert f'value="{value}"' in field
        assert 'inputmode="numeric"' in field and 'placeholder="DD/MM/AAAA"' in field
        assert 'aria-describedby="grid-claves-prepago-desde-hint"' in field
    assert "Escribe la fecha como DD/MM/AAAA" in html


def test_a_typed_dd_mm_aaaa_date_filters_and_a_bad_one_gets_a_spanish_notice(client, keys):
    html = client.get("/claves-prepago?desde=10/10/2026&hasta=31/10/2026").get_data(as_text=True)
    assert "Página 1 de 1 (2 elementos)" in html
    html = client.get("/claves-prepago?desde=31/02/2026&hasta=31/10/2026").get_data(as_text=True)
    assert "«31/02/2026» no es una fecha válida de Fecha (usa DD/MM/AAAA); se ignoró." in html


def test_every_grid_has_an_imprimir_link_to_its_print_view(client, keys):
    html = page(client, "estatus=utilizada")
    [href] = hrefs(html, r'href="([^"]+)" id="grid-claves-prepago-print"')
    assert href == f"/claves-prepago?{PERIOD}&estatus=utilizada&formato=imprimir"
    factories.service(keys, "suscripciones")
    services = client.get("/servicios/suscripciones").get_data(as_text=True)
    assert 'href="/servicios/suscripciones?formato=imprimir" id="grid-servicios-suscripciones-print"' in services


def test_the_print_view_has_no_navigation_and_prints_the_filters(client, keys, hx):
    for headers in ({}, hx):  # htmx asking still gets the whole page: it opens on its own
        html = page(client, "estatus=utilizada&formato=imprimir", **headers)
        assert "<html" in html and 'class="print-view"' in html
        assert 'class="sidebar"' not in html and "topbar-menus" not in html
        assert 'id="grid-claves-prepago-form"' not in html and "grid-pager" not in html
        assert "<h1>Claves prepago</h1>" in html
        assert "<dt>Estatus</dt><dd>Utilizada</dd>" in html
        assert "<dt>Fecha</dt><dd>desde 01/10/2026 al 31/10/2026</dd>" in html
        [back] = hrefs(html, r'<a class="button" href="([^"]+)">Volver</a>')
        assert back == f"/claves-prepago?{PERIOD}&estatus=utilizada"
        assert html.count("<tr><td") == 2
        assert "primeras 1,000 filas" not in html


def test_the_print_view_stops_at_1000_rows_and_says_so(client, keys):
    db.session.add_all([PrepaidKey(code=key_codes.generate(), quantity=50, unit="Timbres", status="disponible",
                                   desk_id=keys.id, confirmed_on=date(2026, 10, 20), destination="distribuidor")
                        for _ in range(1000)])
    db.session.commit()
    html = page(client, "formato=imprimir")
    assert html.count("<tr><td") == 1000
    assert "Se muestran las primeras 1,000 filas; hay más: usa Exportar CSV" in html


def test_another_desk_prints_none_of_these_keys(client, keys, world, login):
    codes_a = {key_codes.grouped(k.code) for k in db.session.query(PrepaidKey).filter_by(desk_id=keys.id)}
    client.post("/cuenta/salir")
    factories.prepaid_key(world.b.desk, confirmed_on=date(2026, 10, 5))
    login(world.b.user)
    html = page(client, "formato=imprimir")
    assert not any(code in html for code in codes_a)
    assert html.count("<tr><td") == 1


def test_each_cell_carries_its_column_label_for_the_phone_cards(client, keys):
    html = page(client, "estatus=utilizada&cols=clave,estatus,cliente")
    first = re.search(r"<tr>(<td.*?)</tr>", html).group(1)
    assert re.findall(r'<td[^>]*data-label="([^"]+)"', first) == ["Clave", "Estatus", "Cliente"]
    assert '<td data-label="Cliente">Cliente Uno</td>' in first


# --- every control inside its form (text browsers ignore form="…") -------------------------------

class Forms(HTMLParser):
    """Each <form> of a page (its action, the ids of its controls, its hidden fields), and the
    controls outside any form: their name, or a button's words."""

    def __init__(self, html):
        super().__init__()
        self.forms, self.outside, self.current, self.button = [], [], None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.current = {"action": attrs.get("action"), "ids": set(), "hidden": []}
            self.forms.append(self.current)
        elif tag in ("input", "select", "textarea", "button"):
            if self.current is None:
                self.outside.append(attrs.get("name") or "")
                self.button = tag == "button" and not attrs.get("name")
                return
            self.current["ids"].add(attrs.get("id"))
            if tag == "input" and attrs.get("type") == "hidden":
                self.current["hidden"].append((attrs.get("name"), attrs.get("value")))

    def handle_data(self, data):
        if self.button:
            self.outside[-1] += data.strip()

    def handle_endtag(self, tag):
        if tag == "form":
            self.current = None
        elif tag == "button":
            self.button = None


def controls_outside_a_form(html):
    return Forms(html).outside


def form_of(html, control_id):
    """(action, [(name, value)] of its hidden fields) of the form holding the control `control_id`."""
    for form in Forms(html).forms:
        if control_id in form["ids"]:
            return form["action"], form["hidden"]
    raise AssertionError(f"{control_id} no está dentro de un formulario")


def test_every_control_of_a_list_stands_inside_its_form(client, keys):
    factories.service(keys, "suscripciones")
    for html in (page(client, "estatus=utilizada&sort=cliente&per_page=10"),
                 client.get("/servicios/suscripciones").get_data(as_text=True)):
        assert controls_outside_a_form(html) == []
        assert ' form="' not in html


def test_rows_per_page_is_a_form_of_its_own_that_keeps_the_list_on_screen(client, keys):
    html = page(client, "estatus=utilizada&sort=cliente&q=cliente&page=2")
    action, fields = form_of(html, "grid-claves-prepago-per-page")
    assert action == "/claves-prepago"
    # Its hidden fields are the list on screen, back to page 1: with the chosen size, the same rows.
    assert fields == [("q", "cliente"), ("desde", "2026-10-01"), ("hasta", "2026-10-31"), ("estatus", "utilizada"),
                      ("sort", "cliente")]
    assert re.search(r'<button type="submit" class="grid-apply">Mostrar</button>\s*</form>', html)
    sent = client.get(action, query_string=fields + [("per_page", "1")]).get_data(as_text=True)
    assert "Página 1 de 2 (2 elementos)" in sent and 'value="1" selected' in sent


def test_the_toolbar_keeps_the_order_and_page_size_on_screen(client, keys, hx):
    html = page(client, "sort=cliente&per_page=10")
    action, fields = form_of(html, "grid-claves-prepago-q")
    assert ("sort", "cliente") in fields and ("per_page", "10") in fields
    # Applying a filter from the toolbar keeps them: the form sends its fields as they are.
    applied = client.get(action, query_string=fields + [("estatus", "utilizada"), ("desde", "01/10/2026"),
                                                       ("hasta", "31/10/2026")]).get_data(as_text=True)
    assert "Página 1 de 1 (2 elementos)" in applied and 'value="10" selected' in applied
    assert [("sort", "cliente"), ("per_page", "10")] == form_of(applied, "grid-claves-prepago-q")[1]
    # htmx never swaps the toolbar: a sorted fragment sends its kept fields out of band.
    fragment = page(client, "sort=-cantidad", **hx)
    assert re.search(r'<span id="grid-claves-prepago-kept" hx-swap-oob="true">'
                     r'<input type="hidden" name="sort" value="-cantidad"></span>', fragment)


# --- paper: whose list, when, and nothing that does nothing there --------------------------------

@pytest.fixture
def printed_at(app, monkeypatch):
    """The portal clock held at this minute, and how a page prints it: DD/MM/AAAA HH:MM in TIMEZONE."""
    moment = clock.now().replace(second=0, microsecond=0)
    monkeypatch.setattr(clock, "now", lambda: moment)
    return moment.astimezone(ZoneInfo(app.config["TIMEZONE"])).strftime("%d/%m/%Y %H:%M")


def test_the_print_view_names_the_desk_the_filter_and_the_moment_it_was_printed(client, keys, printed_at):
    html = page(client, "estatus=utilizada&formato=imprimir")
    head = html.split('<div class="grid-print-head">', 1)[1].split("</dl>", 1)[0]
    assert f"<strong>{escape(keys.razon_social)}</strong> <span>RFC {keys.rfc}</span>" in head
    assert f"Impreso el {printed_at}" in head
    assert "<dt>Fecha</dt><dd>desde 01/10/2026 al 31/10/2026</dd>" in head and "<dt>Estatus</dt><dd>Utilizada</dd>" in head
    # The list on screen carries the same head, for the browser's own printing (print media).
    listed = page(client, "estatus=utilizada")
    assert '<div class="grid-print-head print-only">' in listed and f"RFC {keys.rfc}" in listed
    assert f"Impreso el {printed_at}" in listed


def test_the_print_view_of_suscripciones_has_no_mail_button_nor_envios_link(client, keys, printed_at):
    service = factories.service(keys, "suscripciones")
    listed = client.get("/servicios/suscripciones").get_data(as_text=True)
    assert f'id="cda-btn-{service.serial}"' in listed and ">Envíos</a>" in listed  # on screen they work
    html = client.get("/servicios/suscripciones?formato=imprimir").get_data(as_text=True)
    assert service.serial in html and f"RFC {keys.rfc}" in html and f"Impreso el {printed_at}" in html
    assert "Sin búsqueda ni filtros." in html
    for action in ("Reenviar CDA", "cda-form", "Envíos", "Acciones", "grid-actions"):
        assert action not in html, action
