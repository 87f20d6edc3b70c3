"""In Chromium, JS on and off: Crear cuenta → verification link → Iniciar sesión → name and e-mail changes."""
import re

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import User
from tests.accounts_helpers import mail_to
from tests.conftest import body_of

pytestmark = pytest.mark.browser

PASSWORD = "Martillo-azul-2026"


def _link(message, path):
    return re.search(rf"https?://\S+{re.escape(path)}\S+", body_of(message)).group(0)


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_sign_up_verify_sign_in_and_change_email(live_server, browser_page, deliver, js):
    email, new_email = f"ana.{'js' if js else 'nojs'}@ferreteria.mx", "compras@ferreteria.mx"
    page = browser_page(js=js)

    page.goto(live_server.url("/cuenta/crear"))
    page.get_by_label("Razón social").fill("Ferretería López S.A. de C.V.")
    page.get_by_label("RFC").fill("fel950612k21")
    page.get_by_label("Nombre de contacto").fill("Ana López")
    page.get_by_label("Teléfono").fill("55 1234 5678")
    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    page.get_by_label("Confirma la contraseña").fill("otra-cosa-distinta")
    page.get_by_label("Acepto los términos y condiciones de uso").check()
    page.get_by_role("button", name="Crear cuenta").click()
    # A mistake is explained next to its field, the rest of the form kept.
    assert page.locator("#password_confirm-error").inner_text() == "Las contraseñas no coinciden."
    assert page.get_by_label("Razón social").input_value() == "Ferretería López S.A. de C.V."
    page.get_by_label("Contraseña", exact=True).fill(PASSWORD)
    page.get_by_label("Confirma la contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Crear cuenta").click()
    page.wait_for_url("**/cuenta/crear/enviado")
    assert page.get_by_role("heading", name="Revisa tu correo").is_visible()

    page.goto(_link(mail_to(deliver(), email), "/cuenta/verificar/"))
    page.get_by_role("button", name="Verificar mi correo").click()
    page.wait_for_url("**/cuenta/ingresar")
    assert page.get_by_text("¡Listo! Tu correo quedó verificado.").is_visible()

    page.get_by_label("Correo electrónico").fill(email)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_url(re.compile(r".*/servicios/.*"))
    assert page.locator("#desk-picker summary").inner_text().startswith("Póliza: Ferretería López")

    page.locator("#user-menu summary").click()
    page.get_by_role("link", name="Mi perfil").click()
    # The name: the same notice and the same top bar, whether the page reloads or htmx swaps the section.
    details = page.locator("#profile-details")
    details.get_by_label("Nombre").fill("Ana López Ruiz")
    details.get_by_role("button", name="Guardar datos").click()
    expect(page.get_by_text("Tus datos generales se guardaron.")).to_be_visible()
    expect(page.locator("#user-menu summary")).to_have_text("Ana López Ruiz ▼")
    expect(page.locator("#profile-details").get_by_label("Nombre")).to_have_value("Ana López Ruiz")
    db.session.rollback()  # see the live server's commit
    assert db.session.query(User).filter_by(email=email).one().name == "Ana López Ruiz"

    section = page.locator("#profile-email")
    section.get_by_label("Nuevo correo electrónico").fill(new_email)
    section.get_by_label("Contraseña actual").fill(PASSWORD)
    section.get_by_role("button", name="Cambiar correo").click()
    notice = page.get_by_text(f"Te enviamos un enlace a {new_email}.", exact=False)
    notice.wait_for()
    assert page.locator("#profile-email").get_by_text(f"Correo actual: {email}").is_visible()

    page.goto(_link(mail_to(deliver(), new_email), "/perfil/correo/confirmar/"))
    page.get_by_role("button", name="Confirmar cambio de correo").click()
    page.wait_for_url("**/perfil")
    assert page.get_by_text(f"Listo: el correo de tu cuenta ahora es {new_email}.").is_visible()
    assert page.locator("#profile-email").get_by_text(f"Correo actual: {new_email}").is_visible()
