"""The demo user signs in in Chromium (after a wrong password) and sees the menu and the desk selector, JS on and off."""
import pytest
from playwright.sync_api import expect

from tests import factories
from tests.conftest import browser_sign_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_demo_user_signs_in_and_sees_menu_and_desk_selector(app, live_server, browser_page, js):
    from portal.demo import load_demo
    from portal.models import User
    from portal.extensions import db

    load_demo(factories.today())
    page = browser_page(js=js)
    jorge = db.session.query(User).filter_by(email="distribuidor@demo.mx").one()
    # A wrong password first: the same message next to the form, the e-mail kept.
    page.goto(live_server.url("/cuenta/ingresar"))
    page.get_by_label("Correo electrónico").fill(jorge.email)
    page.get_by_label("Contraseña").fill("no-es-la-clave")
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("alert")).to_have_text("Correo o contraseña incorrectos.")
    expect(page.get_by_label("Correo electrónico")).to_have_value(jorge.email)
    browser_sign_in(page, live_server, jorge, password="demo12345")
    menu = page.get_by_role("navigation", name="Mis Servicios")
    for label in ("Servidor virtual", "Suscripciones", "Licenciamiento", "Espacio", "Mis Pólizas",
                  "Sellado CFDI", "Cursos", "Activar claves de producto- Prepago", "Claves prepago"):
        assert menu.get_by_role("link", name=label, exact=True).is_visible()
    picker = page.locator("#desk-picker summary")
    assert picker.inner_text().startswith("Póliza: Sistemas Integrales del")
    picker.click()
    page.get_by_role("button", name="Papelería La Estrella").click()
    page.wait_for_load_state()
    assert page.locator("#desk-picker summary").inner_text().startswith("Póliza: Papelería La Estrella")
