"""The grid as a person uses it, in Chromium: grouping by drag, keyboard and ✕; menus that close each
other; DD/MM/AAAA dates in any locale; a 320 px phone; paper and the print view; no CSP refusal.

Every control is also driven with JS off: the same URL and the same rows are the proof that the
enhancement and the plain page are one feature.
"""
import re
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from portal import clock
from portal.extensions import db
from portal.models import PrepaidKey
from portal import key_codes
from tests import factories
from tests.clock_helpers import TEST_TODAY
from tests.conftest import browser_sign_in

pytestmark = pytest.mark.browser
KEYS = "#grid-claves-prepago"
SERVICES = "#grid-servicios-suscripciones"
WIDE, NARROW = {"width": 1280, "height": 800}, {"width": 320, "height": 640}


def rows(page, grid=KEYS):
    """Each body line of the grid: a group header, or the row's cells joined by |."""
    return ["|".join(" ".join(cell.split()) for cell in text.split("\t") if cell.strip())
            for text in page.locator(f"{grid} tbody tr").all_inner_texts()]


def query(url, keep_blank_values=False):
    return parse_qs(urlsplit(url).query, keep_blank_values=keep_blank_values)


def quiet(page):
    """No htmx request in flight, being swapped or settling (a request's URL is pushed before its swap)."""
    expect(page.locator(".htmx-request, .htmx-settling, .htmx-swapping")).to_have_count(0)


def settled(page):
    """The swap done and its fade over (axe would read the half-faded colours as low contrast)."""
    quiet(page)
    expect(page.locator(".grid").first).to_have_css("opacity", "1")


def csp_refusals(page):
    """Console messages of the Content Security Policy refusing something, collected as they come."""
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    return refused


# The keys' month: a whole month four before the portal's today, so the default period (the last two
# months) never reaches it, whatever the day the suite runs on.
MONTH = date(TEST_TODAY.year + (TEST_TODAY.month - 5) // 12, (TEST_TODAY.month - 5) % 12 + 1, 1)
MONTH_END = (MONTH + timedelta(days=31)).replace(day=1) - timedelta(days=1)


def day(n):
    """Day `n` of the keys' month."""
    return MONTH.replace(day=n)


def shown(day_):
    return f"{day_:%d/%m/%Y}"


@pytest.fixture
def keys(app, world):
    """Keys of desk a in one month, three used by two clients: enough to group by Estatus and Cliente."""
    desk = world.a.desk
    uno, dos = factories.client(desk, "Cliente Uno"), factories.client(desk, "Cliente Dos")
    for n in range(6):
        factories.prepaid_key(desk, confirmed_on=day(1 + n), quantity=50 + n)
    for n, client in enumerate((uno, uno, dos)):
        factories.prepaid_key(desk, status="utilizada", client=client, confirmed_on=day(10 + n))
    return desk


# The keys fixture's month, named.
KEYS_MONTH = f"/claves-prepago?desde={MONTH.isoformat()}&hasta={MONTH_END.isoformat()}"


def open_keys(browser_page, live_server, world, js=True, viewport=WIDE, path=KEYS_MONTH):
    page = browser_page(js=js, viewport=viewport)
    browser_sign_in(page, live_server, world.a.user)
    page.goto(live_server.url(path))
    return page


def drag(page, source, target):
    """A mouse drag, through pointer events, from the middle of `source` to the middle of `target`."""
    a, b = source.bounding_box(), target.bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(a["x"] + a["width"] / 2 + 15, a["y"] + 4, steps=3)
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=8)
    page.mouse.up()
    expect(page.locator(".grid-drag-ghost")).to_have_count(0)  # the drop was handled


# --- grouping ---------------------------------------------------------------------------------

def test_dragging_a_header_onto_the_panel_groups_like_the_select_and_dragging_the_chip_out_ungroups(
        app, live_server, browser_page, world, keys):
    page = open_keys(browser_page, live_server, world)
    page.locator(f"{KEYS}-group").select_option("estatus")
    expect(page.locator(f"{KEYS} tr.grid-group")).to_have_text(["Estatus: Disponible (6)", "Estatus: Utilizada (3)"])
    by_select, grouped_rows = page.url, rows(page)

    page = open_keys(browser_page, live_server, world)
    refused = csp_refusals(page)
    page.evaluate("window.sameDocument = true")
    panel = page.locator(f"{KEYS}-grouping")
    expect(panel).to_contain_text("Arrastra una columna aquí para agrupar por ella")
    drag(page, page.locator(f"{KEYS} th[data-group=estatus]"), panel)
    chip = panel.locator(".grid-chip")
    expect(chip).to_have_text(re.compile(r"Agrupado por: Estatus\s*✕"))
    assert page.url == by_select
    assert rows(page) == grouped_rows
    assert page.evaluate("window.sameDocument")  # an htmx swap, not a reload
    expect(page.locator(f"{KEYS}-group")).to_have_value("estatus")
    settled(page)

    # The chip dragged off the panel, onto the table: the list is plain again.
    drag(page, chip, page.locator(f"{KEYS} tbody tr").nth(3))
    expect(panel).to_contain_text("Arrastra una columna aquí para agrupar por ella")
    expect(page.locator(f"{KEYS} tr.grid-group")).to_have_count(0)
    assert "group" not in query(page.url)
    assert refused == []


def test_a_drag_that_ends_off_the_panel_changes_nothing_and_a_click_still_sorts(app, live_server, browser_page,
                                                                                world, keys):
    page = open_keys(browser_page, live_server, world)
    before = page.url
    header = page.locator(f"{KEYS} th[data-group=cliente]")
    drag(page, header, page.locator(f"{KEYS} tbody tr").nth(2))
    # The drop is handled at once: a wrong request would be in flight now, or already in the URL.
    quiet(page)
    assert page.url == before
    expect(page.locator(f"{KEYS} tr.grid-group")).to_have_count(0)
    page.locator(f"{KEYS}-sort-cliente").click()
    expect(page.locator(f"{KEYS} th[aria-sort=ascending]")).to_contain_text("Cliente")


def test_a_finger_drags_a_header_onto_the_panel(app, live_server, browser_page, world, keys):
    """Real touch input (CDP touch events): HTML5 drag and drop would never start here."""
    page = open_keys(browser_page, live_server, world, viewport={"width": 1024, "height": 768})
    page.context.close()
    context = page.context.browser.new_context(viewport={"width": 1024, "height": 768}, has_touch=True,
                                               locale="es-MX")
    page = context.new_page()
    browser_sign_in(page, live_server, world.a.user)
    page.goto(live_server.url(KEYS_MONTH))
    cdp = context.new_cdp_session(page)
    a = page.locator(f"{KEYS} th[data-group=cliente]").bounding_box()
    b = page.locator(f"{KEYS}-grouping").bounding_box()
    start = (a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    end = (b["x"] + 30, b["y"] + b["height"] / 2)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": start[0], "y": start[1]}]})
    for step in range(1, 9):
        x = start[0] + (end[0] - start[0]) * step / 8
        y = start[1] + (end[1] - start[1]) * step / 8
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    expect(page.locator(f"{KEYS}-grouping .grid-chip")).to_contain_text("Agrupado por: Cliente")
    assert query(page.url)["group"] == ["cliente"]
    context.close()


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_the_keyboard_groups_with_tab_and_enter_and_ungroups_with_the_chip(app, live_server, browser_page,
                                                                          world, keys, js):
    page = open_keys(browser_page, live_server, world, js=js)
    page.locator(f"{KEYS}-sort-cliente").focus()
    page.keyboard.press("Tab")
    group_link = page.get_by_role("link", name="Agrupar por Cliente")
    expect(group_link).to_be_focused()
    expect(group_link).to_have_attribute("title", "Agrupar por esta columna")
    page.keyboard.press("Enter")
    expect(page.locator(f"{KEYS} tr.grid-group")).to_have_text(
        ["Cliente: Cliente Dos (1)", "Cliente: Cliente Uno (2)", "Cliente: Sin asignar (6)"])
    assert query(page.url)["group"] == ["cliente"]
    ungroup = page.get_by_role("link", name="Quitar agrupación por Cliente")
    expect(ungroup).to_be_visible()
    if js:
        expect(ungroup).to_be_focused()  # the link pressed went away with the swap: focus goes to the chip
        settled(page)
    ungroup.focus()
    page.keyboard.press("Enter")
    expect(page.locator(f"{KEYS} tr.grid-group")).to_have_count(0)
    expect(page.locator(f"{KEYS}-grouping")).to_contain_text("Arrastra una columna aquí para agrupar por ella")
    assert "group" not in query(page.url)


def test_grouping_by_link_gives_the_same_rows_with_and_without_js(app, live_server, browser_page, world, keys):
    seen = {}
    for js in (True, False):
        page = open_keys(browser_page, live_server, world, js=js)
        page.get_by_role("link", name="Agrupar por Estatus").click()
        expect(page.locator(f"{KEYS} tr.grid-group")).to_have_count(2)
        seen[js] = (query(page.url)["group"], rows(page))
    assert seen[True] == seen[False]


# --- menus ------------------------------------------------------------------------------------

def menu(page, name):
    return {"filtro": page.locator(f"{KEYS}-filters"), "columnas": page.locator(f"{KEYS}-columns"),
            "poliza": page.locator("#desk-picker"), "usuario": page.locator("#user-menu")}[name]


def test_one_menu_open_at_a_time_esc_and_a_click_outside_close_it(app, live_server, browser_page, world, keys):
    page = open_keys(browser_page, live_server, world)
    refused = csp_refusals(page)
    names = ("filtro", "columnas", "poliza", "usuario")
    for name in names:
        expect(menu(page, name).locator("summary")).to_have_attribute("aria-expanded", "false")
    for first, second in zip(names, names[1:] + names[:1]):
        menu(page, first).locator("summary").click()
        expect(menu(page, first)).to_have_attribute("open", "")
        menu(page, second).locator("summary").click()
        expect(menu(page, second)).to_have_attribute("open", "")
        expect(menu(page, first)).not_to_have_attribute("open", "")
        assert page.locator("details[open]").count() == 1
        expect(menu(page, first).locator("summary")).to_have_attribute("aria-expanded", "false")
        expect(menu(page, second).locator("summary")).to_have_attribute("aria-expanded", "true")
        page.keyboard.press("Escape")
        expect(menu(page, second)).not_to_have_attribute("open", "")
        expect(menu(page, second).locator("summary")).to_be_focused()
        expect(menu(page, second).locator("summary")).to_have_attribute("aria-expanded", "false")

    # Esc from inside the panel, and a click outside it.
    menu(page, "columnas").locator("summary").click()
    menu(page, "columnas").get_by_label("Cantidad").focus()
    page.keyboard.press("Escape")
    expect(menu(page, "columnas")).not_to_have_attribute("open", "")
    expect(menu(page, "columnas").locator("summary")).to_be_focused()
    menu(page, "filtro").locator("summary").click()
    page.get_by_role("heading", name="Claves prepago").click()
    expect(menu(page, "filtro")).not_to_have_attribute("open", "")
    expect(menu(page, "filtro").locator("summary")).to_have_attribute("aria-expanded", "false")

    # A change inside an open menu applies itself and leaves the menu open; "Aplicar" is not shown.
    menu(page, "filtro").locator("summary").click()
    expect(page.get_by_role("button", name="Aplicar")).to_be_hidden()
    menu(page, "filtro").get_by_label("Estatus").select_option("utilizada")
    expect(page.locator(f"{KEYS} tbody tr")).to_have_count(3)
    expect(menu(page, "filtro")).to_have_attribute("open", "")
    assert refused == []


def test_without_js_the_menus_open_and_aplicar_applies(app, live_server, browser_page, world, keys):
    seen = {}
    for js in (True, False):
        page = open_keys(browser_page, live_server, world, js=js)
        menu(page, "filtro").locator("summary").click()
        expect(menu(page, "filtro")).to_have_attribute("open", "")
        menu(page, "filtro").get_by_label("Estatus").select_option("utilizada")
        menu(page, "columnas").locator("summary").click()
        menu(page, "columnas").get_by_label("Cantidad").uncheck()
        if not js:
            page.get_by_role("button", name="Aplicar").click()
        expect(page.locator(f"{KEYS} thead th").first).to_have_text(re.compile("Clave"))
        expect(page.locator(f"{KEYS} tbody tr")).to_have_count(3)
        expect(page.locator(f"{KEYS} thead")).not_to_contain_text("Cantidad")
        seen[js] = rows(page)
        menu(page, "usuario").locator("summary").click()
        expect(page.get_by_role("link", name="Mi perfil")).to_be_visible()
    assert seen[True] == seen[False]


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_rows_per_page_apply_on_change_with_js_and_with_mostrar_without(app, live_server, browser_page, world, keys,
                                                                        js):
    for n in range(3):
        factories.prepaid_key(keys, confirmed_on=day(20 + n))
    page = open_keys(browser_page, live_server, world, js=js, path=KEYS_MONTH + "&sort=cantidad")
    info = page.locator(f"{KEYS} .grid-info")
    expect(info).to_have_text("Página 1 de 1 (12 elementos)")
    if js:
        page.evaluate("window.sameDocument = true")
    page.get_by_label("Filas por página").select_option("10")
    mostrar = page.get_by_role("button", name="Mostrar")
    if js:
        expect(mostrar).to_be_hidden()  # htmx applies the change itself
    else:
        mostrar.click()
    expect(info).to_have_text("Página 1 de 2 (12 elementos)")
    expect(page.locator(f"{KEYS} th[aria-sort=ascending]")).to_contain_text("Cantidad")  # the order is kept
    assert query(page.url)["per_page"] == ["10"] and query(page.url)["sort"] == ["cantidad"]
    if js:
        assert page.evaluate("window.sameDocument") is True
        settled(page)
    # A filter applied from the toolbar keeps the page size and the order.
    menu(page, "filtro").locator("summary").click()
    menu(page, "filtro").get_by_label("Estatus").select_option("disponible")
    if not js:
        page.get_by_role("button", name="Aplicar").click()
    expect(info).to_have_text("Página 1 de 1 (9 elementos)")
    expect(page.get_by_label("Filas por página")).to_have_value("10")
    expect(page.locator(f"{KEYS} th[aria-sort=ascending]")).to_contain_text("Cantidad")


# --- dates ------------------------------------------------------------------------------------

@pytest.mark.parametrize("locale", ["en-US", "es-MX"])
@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_date_filters_are_dd_mm_aaaa_in_any_locale_and_filter_as_typed(app, live_server, chromium, world, keys,
                                                                      locale, js):
    context = chromium.new_context(java_script_enabled=js, locale=locale, viewport=WIDE)
    try:
        page = context.new_page()
        browser_sign_in(page, live_server, world.a.user)
        page.goto(live_server.url(KEYS_MONTH))
        filters = menu(page, "filtro")
        filters.locator("summary").click()
        since = filters.locator("input[name=desde]")
        expect(since).to_have_value(shown(day(1)))
        expect(filters.locator("input[name=hasta]")).to_have_value(shown(MONTH_END))
        expect(since).to_have_attribute("placeholder", "DD/MM/AAAA")
        expect(filters).to_contain_text("DD/MM/AAAA")
        assert page.evaluate("document.querySelectorAll('input[type=date]').length") == 0

        since.fill(shown(day(5)))
        since.press("Enter")
        expect(page.locator(f"{KEYS} .grid-info")).to_have_text("Página 1 de 1 (5 elementos)")
        # The form sends what was typed; the URL htmx pushes is the grid's one spelling, AAAA-MM-DD.
        assert query(page.url)["desde"] == ([day(5).isoformat()] if js else [shown(day(5))])
        expect(menu(page, "filtro").locator("input[name=desde]")).to_have_value(shown(day(5)))
        expect(page.locator("#prepaid-period")).to_contain_text(f"desde {shown(day(5))} al {shown(MONTH_END)}")

        since = menu(page, "filtro").locator("input[name=desde]")
        if not since.is_visible():
            menu(page, "filtro").locator("summary").click()
        since.fill("31/02/2026")
        since.press("Enter")
        expect(page.locator(f"{KEYS} .notice-warning")).to_contain_text("31/02/2026")
        expect(page.locator(f"{KEYS} .notice-warning")).to_contain_text("no es una fecha válida de Fecha (usa DD/MM/AAAA)")
    finally:
        context.close()


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_todas_las_fechas_and_both_dates_cleared_show_every_key(app, live_server, browser_page, world, js):
    today = clock.today(app.config["TIMEZONE"])
    recent = factories.prepaid_key(world.a.desk, confirmed_on=today - timedelta(days=3))
    old = factories.prepaid_key(world.a.desk, confirmed_on=today - timedelta(days=400))
    page = open_keys(browser_page, live_server, world, js=js, path="/claves-prepago")
    period, info = page.locator("#prepaid-period"), page.locator(f"{KEYS} .grid-info")
    expect(period).to_contain_text("Fecha de contratación desde")  # a fresh visit: the last two months
    expect(info).to_have_text("Página 1 de 1 (1 elemento)")

    filters = menu(page, "filtro")
    filters.locator("summary").click()
    every = filters.get_by_label("Todas las fechas")
    expect(every).not_to_be_checked()
    every.check()
    if not js:
        page.get_by_role("button", name="Aplicar").click()
    expect(period).to_have_text("Claves de prepago con: todas las fechas")
    expect(info).to_have_text("Página 1 de 1 (2 elementos)")
    expect(page.locator(f"{KEYS} tbody")).to_contain_text(key_codes.grouped(old.code))
    assert query(page.url)["fechas"] == ["todas"]
    filters = menu(page, "filtro")
    if not filters.get_by_label("Todas las fechas").is_visible():
        filters.locator("summary").click()
    # The form says what the list shows: the box checked, no date left in it.
    expect(filters.get_by_label("Todas las fechas")).to_be_checked()
    expect(filters.locator("input[name=desde]")).to_have_value("")
    expect(filters.locator("input[name=hasta]")).to_have_value("")
    if js:
        settled(page)

    # A typed date is a period again (with JS the box unchecks as it is typed)...
    since = filters.locator("input[name=desde]")
    since.fill(f"{today - timedelta(days=10):%d/%m/%Y}")
    if js:
        expect(filters.get_by_label("Todas las fechas")).not_to_be_checked()
    else:
        filters.get_by_label("Todas las fechas").uncheck()
    since.press("Enter")
    expect(period).to_have_text(f"Claves de prepago con: Fecha de contratación desde {today - timedelta(days=10):%d/%m/%Y}")
    expect(info).to_have_text("Página 1 de 1 (1 elemento)")
    expect(page.locator(f"{KEYS} tbody")).to_contain_text(key_codes.grouped(recent.code))
    if js:
        settled(page)

    # ...and clearing both dates is every date, never the default period back.
    filters = menu(page, "filtro")
    if not filters.locator("input[name=desde]").is_visible():
        filters.locator("summary").click()
    filters.locator("input[name=hasta]").fill("")
    filters.locator("input[name=desde]").fill("")
    filters.locator("input[name=desde]").press("Enter")
    expect(period).to_have_text("Claves de prepago con: todas las fechas")
    expect(info).to_have_text("Página 1 de 1 (2 elementos)")
    # The form sent both dates blank; htmx pushes the grid's one spelling. Either way a reload keeps every date.
    assert query(page.url, keep_blank_values=True).get("desde") == (None if js else [""])
    assert query(page.url).get("fechas") == (["todas"] if js else None)
    filters = menu(page, "filtro")
    if not filters.get_by_label("Todas las fechas").is_visible():
        filters.locator("summary").click()
    expect(filters.get_by_label("Todas las fechas")).to_be_checked()
    page.reload()
    expect(period).to_have_text("Claves de prepago con: todas las fechas")
    expect(info).to_have_text("Página 1 de 1 (2 elementos)")


# --- a phone ----------------------------------------------------------------------------------

FIRST_ROW_OUTSIDE = """(grid) => {
  const row = document.querySelector(grid + " tbody tr:not(.grid-group)");
  const width = document.documentElement.clientWidth;
  return [...row.querySelectorAll("td")].filter(td => td.getClientRects().length)
    .filter(td => { const r = td.getBoundingClientRect(); return r.left < 0 || r.right > width; })
    .map(td => td.innerText);
}"""


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize("path,grid", [(KEYS_MONTH, KEYS), ("/servicios/suscripciones", SERVICES)],
                         ids=["claves", "suscripciones"])
def test_a_320_px_phone_reads_every_value_as_label_and_value_and_folds_the_menu(app, live_server, browser_page,
                                                                               world, keys, path, grid, js):
    factories.service(world.a.desk, "suscripciones", serial="SERIE-LARGA-0001-XYZ")
    page = open_keys(browser_page, live_server, world, js=js, viewport=NARROW, path=path)
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    assert page.evaluate(FIRST_ROW_OUTSIDE, grid) == []
    first = page.locator(f"{grid} tbody tr:not(.grid-group)").first.locator("td").first
    label = page.evaluate("td => getComputedStyle(td, '::before').content", first.element_handle())
    assert label == '"' + page.locator(f"{grid} thead th").first.inner_text().strip("▲▼ ") + '"'

    nav = page.get_by_role("navigation", name="Mis Servicios")
    expect(nav).to_be_hidden()
    page.get_by_role("link" if not js else "button", name="Menú").click()
    expect(nav).to_be_visible()
    expect(nav.get_by_role("link", name="Claves prepago")).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    nav.get_by_role("link", name="Cerrar menú").click()
    expect(nav).to_be_hidden()

    # The toolbar wraps inside the screen, and its menus open within it.
    menu_panel = page.locator(f"{grid}-filters .grid-menu-panel")
    page.locator(f"{grid}-filters > summary").click()
    box = menu_panel.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= NARROW["width"]


# --- paper ------------------------------------------------------------------------------------

def test_printing_hides_the_navigation_and_shows_the_filters(app, live_server, browser_page, world, keys):
    page = open_keys(browser_page, live_server, world, path=KEYS_MONTH + "&estatus=utilizada")
    expect(page.locator(f"{KEYS} .grid-print-filters")).to_be_hidden()
    page.emulate_media(media="print")
    for hidden in (".topbar", ".sidebar", f"{KEYS}-form", f"{KEYS} .grid-foot", f"{KEYS} .grid-pager"):
        expect(page.locator(hidden)).to_be_hidden()
    expect(page.locator("#prepaid-period")).to_be_visible()
    printed = page.locator(f"{KEYS} .grid-print-filters")
    expect(printed).to_be_visible()
    expect(printed).to_contain_text("Estatus")
    expect(printed).to_contain_text("Utilizada")
    expect(page.locator(f"{KEYS} tbody tr")).to_have_count(3)


def test_paper_names_the_desk_and_the_moment_and_hides_every_button_and_row_action(app, live_server, browser_page,
                                                                                    world, keys):
    service = factories.service(world.a.desk, "suscripciones")
    page = open_keys(browser_page, live_server, world, path="/servicios/suscripciones")
    desk_head = page.locator(f"{SERVICES} .grid-print-desk")
    expect(desk_head).to_be_hidden()
    resend = page.locator(f"#cda-btn-{service.serial}")
    envios = page.get_by_role("link", name=f"Envíos de CDA del número de serie {service.serial}")
    expect(resend).to_be_visible()
    expect(envios).to_be_visible()
    page.emulate_media(media="print")
    expect(desk_head).to_be_visible()
    expect(desk_head).to_have_text(f"{world.a.desk.razon_social} RFC {world.a.desk.rfc}")
    expect(page.locator(f"{SERVICES} .grid-print-at")).to_have_text(re.compile(r"^Impreso el \d\d/\d\d/\d{4} \d\d:\d\d$"))
    expect(page.locator(f"{SERVICES} .grid-print-filters")).to_have_text("Sin búsqueda ni filtros.")
    expect(page.locator(f"{SERVICES} tbody")).to_contain_text(service.serial)
    for hidden in (resend, envios, page.locator(f"{SERVICES} .grid-actions").first,
                   page.get_by_role("link", name="Seguir comprando").first, page.locator(f"{SERVICES} .grid-foot")):
        expect(hidden).to_be_hidden()
    assert page.locator("main button:visible, main .button:visible").count() == 0


def many_keys(desk, n):
    """n keys of one day, added in one transaction (a factory per key would take minutes)."""
    db.session.add_all([PrepaidKey(code=key_codes.generate(), quantity=50, unit="Timbres", status="disponible",
                                   desk_id=desk.id, confirmed_on=day(20), destination="distribuidor")
                        for _ in range(n)])
    db.session.commit()


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_the_print_view_shows_up_to_1000_rows_and_says_when_there_are_more(app, live_server, browser_page, world,
                                                                          keys, js):
    many_keys(world.a.desk, 1000)  # 1,009 with the fixture's
    page = open_keys(browser_page, live_server, world, js=js, path=f"/claves-prepago?desde={shown(day(1))}&hasta={shown(MONTH_END)}")
    page.get_by_role("link", name="Imprimir").click()
    expect(page.get_by_role("heading", name="Claves prepago")).to_be_visible()
    assert query(page.url)["formato"] == ["imprimir"]
    expect(page.get_by_role("navigation")).to_have_count(0)
    expect(page.locator(f"{KEYS}-form")).to_have_count(0)
    expect(page.locator(f"{KEYS} .grid-print-filters")).to_contain_text(shown(day(1)))
    expect(page.locator(f"{KEYS} tbody tr")).to_have_count(1000)
    expect(page.get_by_role("status").filter(has_text="primeras 1,000 filas")).to_contain_text("Exportar CSV")
    page.get_by_role("link", name="Volver").click()
    expect(page.locator(f"{KEYS} .grid-info")).to_contain_text("1,009 elementos")
    assert "formato" not in query(page.url)


def test_the_print_view_of_a_short_list_says_nothing_about_more(app, live_server, browser_page, world, keys):
    page = open_keys(browser_page, live_server, world, path=KEYS_MONTH + "&estatus=utilizada&formato=imprimir")
    expect(page.locator(f"{KEYS} tbody tr")).to_have_count(3)
    expect(page.locator("body")).not_to_contain_text("primeras 1,000 filas")


# --- the whole walk: CSP and axe --------------------------------------------------------------

def test_no_csp_refusal_and_no_serious_axe_finding_on_the_new_controls(app, live_server, browser_page, world, keys):
    factories.service(world.a.desk, "suscripciones")
    page = open_keys(browser_page, live_server, world)
    refused = csp_refusals(page)
    axe, findings = Axe(), []

    def check(name):
        for violation in axe.run(page).response["violations"]:
            if violation["impact"] in ("serious", "critical"):
                findings.append(f"{name}: {violation['id']} {[n['target'] for n in violation['nodes']][:3]}")

    page.get_by_role("link", name="Agrupar por Cliente").click()
    expect(page.locator(f"{KEYS}-grouping .grid-chip")).to_be_visible()
    settled(page)
    check("agrupado")
    menu(page, "filtro").locator("summary").click()
    menu(page, "filtro").locator("input[name=desde]").fill(shown(day(2)))
    menu(page, "filtro").locator("input[name=desde]").press("Enter")
    expect(page.locator(f"{KEYS} .grid-info")).to_contain_text("8 elementos")
    settled(page)
    check("filtro-fechas")
    page.locator(f"{KEYS}-sort-fecha").click()
    settled(page)
    page.locator(f"{KEYS} .grid-pager, {KEYS} .grid-foot").first.scroll_into_view_if_needed()
    page.get_by_role("link", name="Quitar agrupación por Cliente").click()
    expect(page.locator(f"{KEYS} tr.grid-group")).to_have_count(0)
    settled(page)  # the ungrouped list swapped in and faded back in before axe reads its colours
    page.set_viewport_size(NARROW)
    page.get_by_role("button", name="Menú").click()
    check("menu-telefono")
    page.set_viewport_size(WIDE)
    page.goto(live_server.url("/servicios/suscripciones"))
    drag(page, page.locator(f"{SERVICES} th[data-group=sistema]"), page.locator(f"{SERVICES}-grouping"))
    expect(page.locator(f"{SERVICES}-grouping .grid-chip")).to_contain_text("Sistema")
    page.goto(live_server.url(KEYS_MONTH + "&formato=imprimir"))
    check("vista-impresion")
    assert findings == []
    assert refused == []
