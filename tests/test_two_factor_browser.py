"""In Chromium, JS on and off: enrol with the secret read off the page, sign in with the code;
the pages break no rule of the Content-Security-Policy."""
import re

import pyotp
import pytest

from portal import clock
from tests import factories
from tests.conftest import browser_sign_in
from tests.two_factor_helpers import next_code

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_enrol_and_sign_in_with_a_code(live_server, browser_page, world, js):
    user = world.a.user
    page = browser_page(js=js)
    refused = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    browser_sign_in(page, live_server, user)

    page.goto(live_server.url("/perfil/dos-pasos"))
    page.get_by_role("button", name="Activar verificación en dos pasos").click()
    qr = page.get_by_role("img", name="Código QR para tu aplicación de autenticación")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 100")
    secret = page.locator("#profile-2fa-secret").inner_text().replace(" ", "")
    page.get_by_label("Contraseña actual").fill(factories.PASSWORD)
    page.get_by_label("Código de verificación").fill(pyotp.TOTP(secret).at(clock.timestamp()))
    page.get_by_role("button", name="Confirmar y activar").click()
    page.get_by_role("heading", name="Tus códigos de recuperación").wait_for()
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="Ya los guardé").click()
    # exact: the recovery page itself says "quedó activada"; only the status badge says this
    page.get_by_text("Activada", exact=True).wait_for()
    assert secret not in page.content()

    page.locator("#user-menu summary").click()
    page.get_by_role("button", name="Cerrar sesión").click()
    page.wait_for_url(re.compile(r".*/cuenta/ingresar"))
    page.get_by_label("Correo electrónico").fill(user.email)
    page.get_by_label("Contraseña").fill(factories.PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_url(re.compile(r".*/cuenta/verificacion$"))
    page.get_by_label("Código de verificación").fill("000000" if next_code(secret) != "000000" else "111111")
    page.get_by_role("button", name="Verificar").click()
    assert page.locator("#code-error").inner_text() == "El código de verificación no es correcto o ya se usó."
    page.get_by_label("Código de verificación").fill(next_code(secret))
    page.get_by_role("button", name="Verificar").click()
    page.wait_for_url(re.compile(r".*/servicios/.*"))
    assert refused == []
