"""Helpers for the two-factor tests: enrol through the pages as a user would, codes from the app."""
import html
import re

import pyotp

from portal import clock
from tests import factories

SECRET_ON_PAGE = re.compile(r'<code id="profile-2fa-secret" class="two-factor-secret">([A-Z2-7 ]+)</code>')
RECOVERY_ON_PAGE = re.compile(r"<li><code>([A-Z0-9-]{14})</code></li>")


def secret_from(page):
    """The secret the enrolment page shows as text, without its spaces (what a user types in an app)."""
    return SECRET_ON_PAGE.search(page).group(1).replace(" ", "")


def recovery_codes_from(page):
    return RECOVERY_ON_PAGE.findall(page)


def next_code(secret):
    """A code of the next 30-second step: a code already used (same step) is refused on purpose."""
    totp = pyotp.TOTP(secret)
    return totp.at(clock.timestamp() + 30)


def enrol(client, password=factories.PASSWORD):
    """Turn on two-factor sign-in through Mi perfil; (secret, recovery codes)."""
    client.post("/perfil/dos-pasos/iniciar")
    page = client.get("/perfil/dos-pasos").get_data(as_text=True)
    secret = secret_from(page)
    response = client.post("/perfil/dos-pasos/confirmar", data={
        "confirm-current_password": password, "confirm-code": pyotp.TOTP(secret).at(clock.timestamp())})
    assert response.status_code == 200, html.unescape(response.get_data(as_text=True))[:3000]
    codes = recovery_codes_from(response.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def password_step(client, user, password=factories.PASSWORD, headers=None, **extra):
    return client.post("/cuenta/ingresar", data={"email": user.email, "password": password, **extra},
                       headers=headers or {})
