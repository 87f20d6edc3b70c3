"""Suscripciones in Chromium: search, a column, grouping, sorting, page 2, Back and a filter — with JS and without.

Both runs must end with the same rows on screen: the no-JS form and the htmx swaps are one feature."""
import re

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.conftest import browser_sign_in

pytestmark = pytest.mark.browser
GRID = "#grid-servicios-suscripciones"


def rows(page):
    """Each body line of the grid: a group header, or the row's cells joined by |."""
    return ["|".join(" ".join(cell.split()) for cell in text.split("\t") if cell.strip())
            for text in page.locator(f"{GRID} tbody tr").all_inner_texts()]


def apply(page, js):
    """Without JS the form needs its button; with htmx the change already swapped the grid."""
    if not js:
        page.get_by_role("button", name="Aplicar").click()
        page.wait_for_load_state()


def settled(page, js):
    """htmx wires up swapped-in controls when the swap settles (~20 ms): act after that, as a person would."""
    if js:
        expect(page.locator(".htmx-request, .htmx-settling, .htmx-swapping")).to_have_count(0)


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_search_columns_group_sort_page_and_back(app, live_server, browser_page, world, js):
    desk = world.a.desk
    for n in range(12):
        system = factories.service(desk, product_code="SAE", serial=f"SAE-{n:02d}", version="8.0" if n % 2 else "9.0",
                                   users=n + 1)
    # Every system of the list has the factory's dates: its Fecha Activación and Próximo Pago cells.
    dates = f"{system.activated_on:%d/%m/%Y}|{system.next_payment_on:%d/%m/%Y}"
    for n in range(18):
        factories.service(desk, product_code=("COI", "NOI")[n % 2], serial=f"OTRO-{n:02d}")
    page = browser_page(js=js)
    browser_sign_in(page, live_server, world.a.user)
    page.goto(live_server.url("/servicios/suscripciones"))
    info = page.locator(f"{GRID} .grid-info")
    expect(info).to_have_text("Página 1 de 2 (30 elementos)")
    if js:
        page.evaluate("window.sameDocument = true")

    search = page.get_by_label("Buscar")
    if js:
        search.press_sequentially("sáe", delay=30)  # no Enter: the pause in typing is enough
    else:
        search.fill("sáe")
        search.press("Enter")
    expect(info).to_have_text("Página 1 de 1 (12 elementos)")
    if js:
        assert page.evaluate("document.activeElement.id") == "grid-servicios-suscripciones-q"

    page.get_by_text("Columnas", exact=True).click()
    page.locator("#grid-servicios-suscripciones-columns").get_by_label("Usuarios").uncheck()
    if not js:  # "Columnas" is its own form (a POST: the choice is kept), with its own button
        page.get_by_role("button", name="Guardar columnas").click()
        page.wait_for_load_state()
    expect(page.locator(f"{GRID} thead th")).to_have_text(
        ["Sistema", "Versión", "No. Serie", "Fecha Activación▼", "Próximo Pago", "Acciones"])
    settled(page, js)

    page.locator("#grid-servicios-suscripciones-group").select_option("version")  # not the headers' "Agrupar por …" links
    apply(page, js)
    expect(page.locator(f"{GRID} tbody tr.grid-group")).to_have_text(["Versión: 8.0 (6)", "Versión: 9.0 (6)"])
    settled(page, js)

    page.locator(f"{GRID} thead").get_by_role("link", name="No. Serie").click()
    expect(page.locator(f"{GRID} th[aria-sort=ascending]")).to_have_text("No. Serie▲")
    settled(page, js)

    page.get_by_label("Filas por página").select_option("10")
    if not js:  # "Filas por página" is its own form (it sits below the list), with its own button
        page.get_by_role("button", name="Mostrar").click()
        page.wait_for_load_state()
    expect(info).to_have_text("Página 1 de 2 (12 elementos)")
    settled(page, js)
    first = ["Versión: 8.0 (6)"] + [f"SAE|8.0|SAE-{n:02d}|{dates}|Reenviar CDA Envíos" for n in (1, 3, 5, 7, 9, 11)] + \
            ["Versión: 9.0 (6)"] + [f"SAE|9.0|SAE-{n:02d}|{dates}|Reenviar CDA Envíos" for n in (0, 2, 4, 6)]
    assert rows(page) == first

    page.get_by_role("link", name="Página siguiente").click()
    expect(info).to_have_text("Página 2 de 2 (12 elementos)")
    assert rows(page) == ["Versión: 9.0 (6)"] + [f"SAE|9.0|SAE-{n:02d}|{dates}|Reenviar CDA Envíos" for n in (8, 10)]
    assert re.search(r"[?&]page=2\b", page.url) and "q=s%C3%A1e" in page.url

    page.go_back()
    expect(info).to_have_text("Página 1 de 2 (12 elementos)")
    assert rows(page) == first
    settled(page, js)

    # A filter (Usuarios from 11) narrows what the search found, keeping grouping and order.
    filters = page.locator("#grid-servicios-suscripciones-filters")
    filters.locator("summary").click()
    filters.get_by_role("group", name="Usuarios").get_by_label("Mínimo").fill("11")
    filters.get_by_role("group", name="Usuarios").get_by_label("Mínimo").press("Enter")
    expect(info).to_have_text("Página 1 de 1 (2 elementos)")
    assert rows(page) == ["Versión: 8.0 (1)", f"SAE|8.0|SAE-11|{dates}|Reenviar CDA Envíos",
                          "Versión: 9.0 (1)", f"SAE|9.0|SAE-10|{dates}|Reenviar CDA Envíos"]
    expect(filters.locator("summary")).to_have_text("Filtro 1")
    if js:
        # Every step swapped the grid in place: the document never reloaded.
        assert page.evaluate("window.sameDocument") is True
