"""Reenviar CDA in Chromium: the "Aspel notifica" modal with JavaScript, the notice in the page without."""
import re

import pytest

from portal.extensions import db
from portal.models import OutboxMessage
from tests import factories
from tests.conftest import browser_sign_in

pytestmark = pytest.mark.browser


def _queued():
    db.session.rollback()  # see the live server's commits
    return db.session.query(OutboxMessage).count()


def test_js_the_button_opens_the_modal_and_aceptar_gives_focus_back(app, live_server, browser_page, world):
    system = factories.service(world.a.desk, "suscripciones", product_code="PROD", version="4.0")
    page = browser_page(js=True)
    browser_sign_in(page, live_server, world.a.user)
    page.goto(live_server.url("/servicios/suscripciones"))

    button = page.get_by_role("button", name=f"Reenviar CDA del número de serie {system.serial}")
    button.click()
    dialog = page.get_by_role("dialog", name="Aspel notifica")
    dialog.wait_for()
    assert dialog.evaluate("d => d.matches(':modal')")
    assert f"El CDA del número de serie {system.serial} ha sido enviado a tu cuenta de correo." in dialog.inner_text()
    assert dialog.get_by_role("link", name="Mi perfil > Datos generales").is_visible()
    assert page.evaluate("document.activeElement.textContent") == "Aceptar"

    dialog.get_by_role("button", name="Aceptar").click()
    dialog.wait_for(state="detached")
    assert page.evaluate("document.activeElement.id") == f"cda-btn-{system.serial}"
    assert _queued() == 1

    # Escape closes it too, and focus comes back the same way.
    button.click()
    dialog.wait_for()
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert page.evaluate("document.activeElement.id") == f"cda-btn-{system.serial}"


def test_nojs_the_post_redirects_back_and_the_notice_is_in_the_page(app, live_server, browser_page, world):
    system = factories.service(world.a.desk, "licenciamiento", product_code="SAE")
    physical = factories.service(world.a.desk, "licenciamiento", product_code="COI", acquisition="fisica")
    page = browser_page(js=False)
    browser_sign_in(page, live_server, world.a.user)
    grid = live_server.url("/servicios/licenciamiento?per_page=50")
    page.goto(grid)
    assert page.get_by_text("Consulta el CDA en tu Certificado de Autenticidad").is_visible()
    assert page.get_by_role("button", name=f"Reenviar CDA del número de serie {physical.serial}").count() == 0

    page.get_by_role("button", name=f"Reenviar CDA del número de serie {system.serial}").click()
    page.wait_for_load_state()
    assert page.url == grid  # the same page, filters kept
    notice = page.get_by_role("dialog", name="Aspel notifica")
    assert notice.is_visible()
    assert re.search(f"El CDA del número de serie {system.serial} ha sido enviado a tu cuenta de correo.",
                     notice.inner_text())
    assert _queued() == 1
    notice.get_by_role("button", name="Aceptar").click()  # a native <form method="dialog">
    assert not notice.is_visible()
