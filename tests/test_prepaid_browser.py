"""Figures 2–5 in Chromium, with JS and without: capture, confirmation panel, Aviso, the list."""
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import OutboxMessage, PrepaidKey
from portal import key_codes
from tests import factories
from tests.conftest import browser_sign_in

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("PORTAL_SCREENSHOTS")  # a folder: save each figure's screen there


def shot(page, name, js):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}-{'js' if js else 'nojs'}.png", full_page=True)


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_activate_a_key_through_figures_2_to_5(app, live_server, browser_page, world, js):
    key = factories.prepaid_key(quantity=50)
    page = browser_page(js=js, viewport={"width": 1100, "height": 800})
    browser_sign_in(page, live_server, world.a.user)

    # Figure 2: the menu entry and the capture.
    page.get_by_role("link", name="Activar claves de producto- Prepago").click()
    expect(page.get_by_role("heading", name="Activar claves de producto prepago")).to_be_visible()
    if js:
        page.evaluate("window.sameDocument = true")
    page.get_by_label("Clave Prepago").fill(" " + key_codes.grouped(key.code).lower().replace("-", " "))
    shot(page, "figura-2", js)
    page.get_by_role("button", name="Validar").click()

    # Figure 3: "Solicitar Clave de Confirmación".
    panel = page.locator("#prepaid-panel")
    expect(panel.get_by_role("heading", name="Solicitar Clave de Confirmación")).to_be_visible()
    expect(panel).to_contain_text(f"Clave {key_codes.grouped(key.code)} válida (incluye 50 Timbres)")
    expect(panel.get_by_label("Mi Negocio")).to_be_checked()
    expect(panel).to_contain_text(world.a.desk.razon_social)

    if js:
        panel.get_by_role("link", name="Ver Licencia").click()
        license_dialog = page.get_by_role("dialog", name="Licencia de Uso")
        expect(license_dialog).to_be_visible()
        expect(page.locator("#prepaid-license:modal")).to_have_count(1)  # portal.js shows it after the swap
        license_dialog.get_by_role("button", name="Aceptar").click()
        expect(license_dialog).to_have_count(0)
        expect(panel.get_by_role("link", name="Ver Licencia")).to_be_focused()
    else:
        with page.expect_popup() as popup:
            panel.get_by_role("link", name="Ver Licencia").click()
        expect(popup.value.get_by_role("heading", name="Licencia de Uso", exact=True)).to_be_visible()
        popup.value.close()

    panel.get_by_role("button", name="Confirmar").click()
    expect(page.locator("#prepaid-panel")).to_contain_text("Para confirmar debes aceptar la Licencia de Uso.")
    panel = page.locator("#prepaid-panel")
    panel.get_by_label("Distribuidor").check()
    panel.get_by_label("Acepto la Licencia de Uso.").check()
    shot(page, "figura-3", js)
    panel.get_by_role("button", name="Confirmar").click()

    # Figure 4: the "Aviso".
    notice = page.get_by_role("dialog", name="Aviso")
    expect(notice).to_contain_text("Los servicios liberados por este medio serán válidos solo para este Escritorio.")
    expect(page.locator("#prepaid-notice:modal")).to_have_count(1 if js else 0)
    shot(page, "figura-4", js)
    notice.get_by_role("link", name="Aceptar").click()

    # Figure 5: the list, the new key highlighted.
    page.wait_for_url(re.compile(rf".*/claves-prepago\?resaltar={key.id}$"))
    expect(page.get_by_role("heading", name="Claves prepago")).to_be_visible()
    expect(page.locator("#prepaid-period")).to_contain_text("Claves de prepago con: Fecha de contratación desde")
    row = page.locator("#grid-claves-prepago tbody tr").filter(has=page.locator("mark.key-new"))
    expect(row).to_have_count(1)
    expect(row).to_contain_text(key_codes.grouped(key.code))
    for text in ("50 Timbres", "Inactiva", "Disponible", "Sin asignar"):
        expect(row).to_contain_text(text)
    if js:
        assert page.evaluate("window.sameDocument") is None  # Aceptar is a real navigation to the list
    shot(page, "figura-5", js)

    # What the database holds is the same either way: the key in this desk, one confirmation e-mail.
    db.session.rollback()  # see the live server's commits
    key = db.session.get(PrepaidKey, key.id)
    assert (key.status, key.desk_id, key.destination) == ("disponible", world.a.desk.id, "distribuidor")
    assert [(m.kind, m.recipient) for m in db.session.query(OutboxMessage)] == [
        ("prepaid_key_confirmed", world.a.user.email)]


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_the_list_filters_by_status_in_place(app, live_server, browser_page, world, js):
    factories.prepaid_key(world.a.desk)
    used = factories.prepaid_key(world.a.desk, status="utilizada", client=factories.client(world.a.desk, "Empresa 3"))
    page = browser_page(js=js)
    browser_sign_in(page, live_server, world.a.user)
    since, until = factories.today() - timedelta(days=30), factories.today()  # a period of the user's own
    page.goto(live_server.url(f"/claves-prepago?desde={since.isoformat()}&hasta={until.isoformat()}"))
    if js:
        page.evaluate("window.sameDocument = true")
    page.locator("#grid-claves-prepago-filters summary").click()
    page.locator("#grid-claves-prepago-filters select[name=estatus]").select_option("utilizada")
    if not js:
        page.get_by_role("button", name="Aplicar").click()
    rows = page.locator("#grid-claves-prepago tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(key_codes.grouped(used.code))
    expect(rows.first).to_contain_text("Empresa 3")
    expect(page).to_have_url(re.compile(r".*estatus=utilizada.*"))
    expect(page.locator("#prepaid-period")).to_contain_text(f"desde {since:%d/%m/%Y} al {until:%d/%m/%Y}")
    if js:
        assert page.evaluate("window.sameDocument") is True


def test_without_js_back_after_confirming_only_gets_pages(app, live_server, browser_page, world):
    key = factories.prepaid_key(quantity=50)
    page = browser_page(js=False)
    browser_sign_in(page, live_server, world.a.user)
    page.goto(live_server.url("/claves-prepago/activar"))
    panel = page.locator("#prepaid-panel")
    # Each step with a refusal first, as people do: a mistyped key, then Confirmar without the license.
    page.get_by_label("Clave Prepago").fill(key_codes.generate())
    page.get_by_role("button", name="Validar").click()
    expect(panel).to_contain_text("La clave no existe.")
    page.get_by_label("Clave Prepago").fill(key_codes.grouped(key.code))
    page.get_by_role("button", name="Validar").click()
    expect(panel).to_contain_text(f"Clave {key_codes.grouped(key.code)} válida (incluye 50 Timbres)")
    panel.get_by_role("button", name="Confirmar").click()
    expect(panel).to_contain_text("Para confirmar debes aceptar la Licencia de Uso.")
    panel.get_by_label("Acepto la Licencia de Uso.").check()
    panel.get_by_role("button", name="Confirmar").click()
    expect(page.get_by_role("dialog", name="Aviso")).to_contain_text("válidos solo para este Escritorio.")
    assert key.code not in page.url and key_codes.grouped(key.code) not in page.url

    sent = []
    page.on("request", lambda request: sent.append(request.method) if request.is_navigation_request() else None)
    # Back over step 2 (twice: after the refusal and before it): step 1, saying the keys were confirmed.
    for _ in range(2):
        answer = page.go_back()
        assert answer is not None and answer.request.method == "GET"
        expect(page).to_have_url(live_server.url("/claves-prepago/activar"))
        expect(page.get_by_role("status")).to_contain_text("Esas claves ya se confirmaron: las encuentras en Claves prepago.")
        expect(page.get_by_role("button", name="Validar")).to_be_visible()
    # Back over the refused Validar: step 1 as it is now, not the form sent again.
    page.go_back()
    expect(page).to_have_url(live_server.url("/claves-prepago/activar"))
    expect(page.get_by_label("Clave Prepago")).to_have_value("")
    expect(panel).not_to_contain_text("La clave no existe.")
    assert sent and set(sent) == {"GET"}, sent

    db.session.rollback()  # see the live server's commits
    assert db.session.get(PrepaidKey, key.id).desk_id == world.a.desk.id
    assert db.session.query(OutboxMessage).count() == 1
