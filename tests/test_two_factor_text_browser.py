"""In w3m, which shows no images: the enrolment page gives the secret as text, in groups of four."""
import re

import pyotp
import pytest
import requests

from portal import clock
from tests.embed_helpers import sqlite_only
from tests.test_embed_text_browser import w3m  # noqa: F401 (fixture)

pytestmark = [pytest.mark.text_browser, sqlite_only]  # what w3m reads is the same HTML whatever the database


def _token(page):
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_w3m_shows_the_secret_to_type_into_an_app(live_server, world, w3m):  # noqa: F811
    http = requests.Session()
    page = http.get(live_server.url("/cuenta/ingresar"), timeout=30).text
    http.post(live_server.url("/cuenta/ingresar"), timeout=30, data={
        "csrf_token": _token(page), "email": world.a.user.email, "password": "clave-de-prueba-9"})
    token = _token(http.get(live_server.url("/perfil/dos-pasos"), timeout=30).text)
    assert http.post(live_server.url("/perfil/dos-pasos/iniciar"), data={"csrf_token": token},
                     allow_redirects=False, timeout=30).status_code == 303

    text = w3m("/perfil/dos-pasos", cookie=f"session={http.cookies['session']}")
    assert "Mi perfil > Verificación en dos pasos" in text
    assert "Código QR para tu aplicación de autenticación" in text, text
    found = re.search(r"((?:[A-Z2-7]{4} ){7}[A-Z2-7]{4})", text)
    assert found, text
    secret = found.group(1).replace(" ", "")
    # What the user read is the secret the portal holds: its code turns two-factor sign-in on.
    token = _token(http.get(live_server.url("/perfil/dos-pasos"), timeout=30).text)
    done = http.post(live_server.url("/perfil/dos-pasos/confirmar"), timeout=30, data={
        "csrf_token": token, "confirm-current_password": "clave-de-prueba-9", "confirm-code": pyotp.TOTP(secret).at(clock.timestamp())})
    assert done.status_code == 200 and "Tus códigos de recuperación" in done.text
