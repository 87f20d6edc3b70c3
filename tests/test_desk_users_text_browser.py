"""The invitation in lynx (no JavaScript): the owner invites from Usuarios, the invitee opens the
link of the real e-mail and creates the account, and is in the desk; the page as w3m shows it."""
import re

import pytest

from tests.conftest import body_of
from tests.desk_users_helpers import invite, staff
from tests.embed_helpers import sqlite_only
from tests.test_embed_text_browser import sign_in, w3m  # noqa: F401 (fixture)
from tests.text_browsers import Lynx, require

pytestmark = [pytest.mark.text_browser, sqlite_only]  # what lynx reads is the same HTML whatever the database


@pytest.fixture
def lynx(live_server, tmp_path):
    require("lynx")
    opened = []

    def _open(url, name):
        home = tmp_path / name
        home.mkdir()
        browser = Lynx(home, url)
        opened.append(browser)
        return browser

    yield _open
    for browser in opened:
        browser.close()


def test_lynx_invites_and_joins(live_server, lynx, deliver):
    s = staff()
    owner = lynx(live_server.url("/cuenta/ingresar?next=/escritorio/usuarios"), "owner")
    owner.wait_for("Iniciar sesión", "Correo electrónico", "Contraseña")
    owner.fill("Correo electrónico", s.owner.email)
    owner.fill("Contraseña", "clave-de-prueba-9")
    owner.press("Iniciar sesión", after="Mantener la sesión iniciada")
    owner.wait_for("Usuarios del escritorio", "Invitar a una persona")
    owner.fill("Correo electrónico", "desde.lynx@empresa.mx", after="Invitar a una persona")
    owner.press("Enviar invitación")
    owner.wait_for("Enviamos la invitación a desde.lynx@empresa.mx como Usuario", "Reenviar", "Retirar")

    [mail] = [m for m in deliver() if m["to"] == ["desde.lynx@empresa.mx"]]
    link = re.search(r"https?://\S+/escritorio/invitacion/\S+", body_of(mail["message"])).group(0)
    invitee = lynx(link, "invitee")
    invitee.wait_for("Invitación a", "con el rol Usuario", "Crea tu cuenta")
    invitee.fill("Nombre", "Lina Lynx")
    invitee.fill("Contraseña", "una-clave-larga-7")
    invitee.fill("Confirma la contraseña", "una-clave-larga-7")
    invitee.toggle("Acepto los")
    invitee.press("Crear mi cuenta y unirme")
    invitee.wait_for("Tu cuenta quedó creada", "Usuarios del escritorio", "Lina Lynx")


def test_w3m_reads_the_users_page_with_its_actions(live_server, w3m):  # noqa: F811
    s = staff()
    invite(s, "por.aceptar@empresa.mx", "viewer")
    text = w3m("/escritorio/usuarios", cookie=sign_in(live_server, s.owner))
    for words in ("Usuarios del escritorio", "Invitar a una persona", "por.aceptar@empresa.mx", "Reenviar", "Retirar",
                  s.member.email, "Cambiar rol", "Ceder propiedad", "Dejar este escritorio"):
        assert words in text, text
