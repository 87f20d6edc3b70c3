"""Accessibility and small screens in Chromium: axe-core on every page, open menu and modal (no serious or
critical violation), nothing wider than a 320 px screen, and the keyboard reaching and using every control.

PORTAL_SCREENSHOTS=<folder> saves each screen at 320 px to look at.
"""
import os
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from portal import clock
from portal.extensions import db
from portal.members import rules as members
from portal.models import Membership, PrepaidKey
from portal import key_codes
from tests import factories
from tests.conftest import browser_sign_in
from tests.embed_helpers import sqlite_only

pytestmark = [pytest.mark.browser, sqlite_only]
SHOTS = os.environ.get("PORTAL_SCREENSHOTS")
WIDE, NARROW = {"width": 1100, "height": 800}, {"width": 320, "height": 640}
FOCUSABLE = ("a[href], button, input:not([type=hidden]), select, textarea, summary, "
             "[tabindex]:not([tabindex='-1'])")


class Checker:
    """Runs axe and the 320 px check on whatever the page shows; collects every finding."""

    def __init__(self, page):
        self.page = page
        self.axe = Axe()
        self.findings = []
        self.checked = []

    def __call__(self, name, narrow_too=False):
        """Check what is on screen; `narrow_too` runs axe at 320 px as well (tables that scroll sideways)."""
        self.checked.append(name)
        self.run_axe(name)
        self.page.set_viewport_size(NARROW)
        overflow = self.page.evaluate("document.documentElement.scrollWidth")
        if overflow > NARROW["width"]:
            self.findings.append(f"{name}: {overflow} px de ancho en una pantalla de 320 px")
        if narrow_too:
            self.run_axe(f"{name} (320 px)")
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=f"{SHOTS}/{len(self.checked):02d}-{name}.png", full_page=True)
        self.page.set_viewport_size(WIDE)

    def run_axe(self, name):
        for violation in self.axe.run(self.page).response["violations"]:
            if violation["impact"] in ("serious", "critical"):
                targets = [node["target"] for node in violation["nodes"]][:4]
                self.findings.append(f"{name}: {violation['id']} ({violation['impact']}) {targets}")


def open_menu(page, selector):
    page.locator(f"{selector} > summary").click()
    expect(page.locator(f"{selector}[open]")).to_have_count(1)


def test_every_page_menu_and_modal_passes_axe_and_fits_320_px(app, live_server, browser_page, world):
    desk, user = world.a.desk, world.a.user
    db.session.add(Membership(user=user, desk=world.b.desk, role="owner"))
    db.session.commit()
    system = factories.service(desk, "suscripciones")
    factories.service(desk, "licenciamiento", acquisition="fisica")
    for category in ("licenciamiento", "servidor-virtual", "espacio", "polizas", "sellado-cfdi", "cursos"):
        factories.service(desk, category)
    factories.prepaid_key(desk, status="utilizada", client=factories.client(desk, "Cliente Uno"))
    key = factories.prepaid_key()
    factories.user(desk, role="viewer", name="Vera Consulta")  # Usuarios shows a member's actions
    members.invite(desk, user, "invitada@empresa-con-nombre-largo.com.mx", "viewer", now=clock.now())
    db.session.commit()
    page = browser_page(js=True, viewport=WIDE)
    check = Checker(page)

    for path, name in (("/cuenta/ingresar", "ingresar"), ("/cuenta/crear", "crear-cuenta"),
                       ("/cuenta/recuperar", "recuperar"), ("/cuenta/terminos", "terminos")):
        page.goto(live_server.url(path))
        check(name)
    page.goto(live_server.url("/cuenta/crear"))
    page.get_by_role("button", name="Crear cuenta").click()
    expect(page.locator(".field-error").first).to_be_visible()
    check("crear-cuenta-errores")

    browser_sign_in(page, live_server, user)
    grid = "#grid-servicios-suscripciones"
    check("suscripciones", narrow_too=True)
    for menu, name in (("#desk-picker", "menu-escritorio"), ("#user-menu", "menu-usuario"),
                       (f"{grid}-filters", "menu-filtro"), (f"{grid}-columns", "menu-columnas")):
        open_menu(page, menu)
        check(name)
        page.locator(f"{menu} > summary").click()  # closed again
    page.get_by_role("button", name=f"Reenviar CDA del número de serie {system.serial}").click()
    expect(page.get_by_role("dialog", name="Aspel notifica")).to_be_visible()
    check("modal-cda")
    page.keyboard.press("Escape")
    for category in ("licenciamiento", "servidor-virtual", "espacio", "polizas", "sellado-cfdi", "cursos"):
        page.goto(live_server.url(f"/servicios/{category}"))
        check(category)
    page.goto(live_server.url(f"/servicios/{system.serial}/envios-cda"))
    check("envios-cda", narrow_too=True)

    page.goto(live_server.url("/claves-prepago"))
    check("claves-prepago")
    open_menu(page, "#grid-claves-prepago-filters")
    check("claves-prepago-filtro")
    page.goto(live_server.url("/claves-prepago/activar"))
    check("activar")
    page.get_by_label("Clave Prepago").fill(key.code)
    page.get_by_role("button", name="Validar").click()
    page.get_by_role("button", name="Confirmar").click()  # without accepting: the error next to it
    expect(page.get_by_role("alert")).to_contain_text("Para confirmar debes aceptar la Licencia de Uso.")
    check("activar-confirmar")
    page.get_by_role("link", name="Ver Licencia").click()
    expect(page.get_by_role("dialog", name="Licencia de Uso")).to_be_visible()
    check("modal-licencia")
    page.get_by_role("dialog", name="Licencia de Uso").get_by_role("button", name="Aceptar").click()
    page.get_by_label("Acepto la Licencia de Uso.").check()
    page.get_by_role("button", name="Confirmar").click()
    expect(page.get_by_role("dialog", name="Aviso")).to_be_visible()
    check("modal-aviso")
    page.goto(live_server.url("/claves-prepago/licencia"))
    check("licencia")

    for path, name in (("/perfil", "perfil"), ("/perfil/notificaciones", "notificaciones"),
                       ("/perfil/actividad", "actividad"), ("/escritorio/usuarios", "usuarios"),
                       ("/no-existe", "error-404")):
        page.goto(live_server.url(path))
        check(name, narrow_too=name in ("actividad", "usuarios"))
    page.goto(live_server.url("/perfil/dos-pasos"))
    check("dos-pasos")
    page.get_by_role("button", name="Activar verificación en dos pasos").click()
    page.get_by_role("img", name="Código QR para tu aplicación de autenticación").wait_for()
    check("dos-pasos-alta")

    assert len(check.checked) == 32
    assert check.findings == []
    db.session.rollback()
    assert db.session.get(PrepaidKey, key.id).desk_id == desk.id  # the walk really confirmed the key
    assert key_codes.grouped(key.code) in page.goto(live_server.url("/claves-prepago")).text()


TAB_WALK = """() => {
  // Number every control a keyboard user should reach: visible, enabled, not inside a closed <details>.
  const all = [...document.querySelectorAll(arguments_selector)].filter(el =>
    el.getClientRects().length && !el.disabled && !el.closest("[inert]") &&
    !(el.closest("details:not([open])") && el.tagName !== "SUMMARY"));
  all.forEach((el, n) => el.dataset.kb = n);
  return all.length;
}"""


def focused(page):
    """The data-kb number of the focused control (None for the page itself)."""
    return page.evaluate("document.activeElement && document.activeElement.dataset.kb || null")


def test_the_keyboard_reaches_every_control_and_works_the_modal_and_the_activation(app, live_server, browser_page,
                                                                                   world):
    system = factories.service(world.a.desk, "suscripciones")
    factories.service(world.a.desk, "suscripciones")
    key = factories.prepaid_key()
    page = browser_page(js=True, viewport=WIDE)
    browser_sign_in(page, live_server, world.a.user)

    # Tab from the top of Suscripciones reaches every visible control, in the page's order.
    page.goto(live_server.url("/servicios/suscripciones"))
    total = page.evaluate(TAB_WALK.replace("arguments_selector", repr(FOCUSABLE)))
    reached = []
    for _ in range(total + 3):
        page.keyboard.press("Tab")
        reached.append(focused(page))
    assert page.locator("[data-kb='0']").inner_text() == "Ir al contenido"
    assert total > 30  # skip link, top bar, menu, toolbar, sort links, row actions, pager, export
    assert [int(n) for n in reached[:total]] == list(range(total))
    page.keyboard.press("Shift+Tab")

    # Filtro opens with Enter and its fields come next.
    filters = page.locator("#grid-servicios-suscripciones-filters")
    filters.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(filters).to_have_attribute("open", "")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#grid-servicios-suscripciones-filters') !== null")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(filters).not_to_have_attribute("open", "")

    # Reenviar CDA with Enter: the modal takes focus, Tab stays inside it, Enter on Aceptar gives it back.
    button = page.get_by_role("button", name=f"Reenviar CDA del número de serie {system.serial}")
    button.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Aspel notifica")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Aceptar")).to_be_focused()
    for _ in range(6):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement === document.body || "
                             "document.activeElement.closest('dialog') !== null")
    dialog.get_by_role("button", name="Aceptar").focus()
    page.keyboard.press("Enter")
    expect(dialog).to_have_count(0)
    expect(button).to_be_focused()

    # The activation, keyboard only: type, Enter; Space on the license; Enter on Confirmar and on Aceptar.
    page.goto(live_server.url("/claves-prepago/activar"))
    page.get_by_label("Clave Prepago").focus()
    page.keyboard.type(key.code)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Validar")).to_be_focused()
    page.keyboard.press("Enter")
    accept = page.get_by_label("Acepto la Licencia de Uso.")
    expect(accept).to_be_visible()
    accept.focus()
    page.keyboard.press("Space")
    expect(accept).to_be_checked()
    page.get_by_role("button", name="Confirmar").focus()
    page.keyboard.press("Enter")
    aviso = page.get_by_role("dialog", name="Aviso")
    expect(aviso.get_by_role("link", name="Aceptar")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Claves prepago")).to_be_visible()
    expect(page.locator("mark.key-new")).to_have_text(key_codes.grouped(key.code))
