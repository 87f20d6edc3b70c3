"""lynx and w3m (no JavaScript) through "Ingresar con la cuenta de tu empresa": the portal's link, the
real provider's plain form, and back to the portal signed in (tests/text_browsers.py drives them)."""
import pytest
from sqlalchemy import select

from portal import clock
from portal.auth import oidc
from portal.extensions import db
from portal.models import AuditEvent
from tests import factories
from tests.embed_helpers import sqlite_only
from tests.oidc_helpers import PASSWORD, OpenIDProvider, user as op_user
from tests.text_browsers import BROWSERS, require

pytestmark = [pytest.mark.text_browser, pytest.mark.multiprocess, sqlite_only]  # the same HTML whatever the database


@pytest.fixture(params=["lynx", "w3m"])
def text_browser(request, live_server, tmp_path):
    require(request.param)
    opened = []

    def _open(path):
        browser = BROWSERS[request.param](tmp_path, live_server.url(path))
        opened.append(browser)
        return browser

    yield _open
    for browser in opened:
        browser.close()


@pytest.fixture
def oidc_provider(app, live_server, tmp_path):
    """The provider with the live portal as its client; the portal's clock runs real time, as the provider's tokens."""
    clock.reset()
    oidc.forget_cache()
    op = OpenIDProvider(tmp_path, {"ana": op_user("ana", email="ana@empresa.example")})
    op.client_id, op.client_secret = op.add_client(live_server.url("/cuenta/sso/retorno"))
    op.start()
    app.config.update(OIDC_ISSUER=op.issuer, OIDC_CLIENT_ID=op.client_id, OIDC_CLIENT_SECRET=op.client_secret)
    yield op
    op.stop()


def test_a_text_browser_signs_in_with_the_company_account(app, oidc_provider, text_browser):
    desk = factories.desk()
    ana = factories.user(desk, email="ana@empresa.example")
    browser = text_browser("/cuenta/ingresar")
    browser.wait_for("Iniciar sesión", "Ingresar con la cuenta de tu empresa")
    browser.follow("Ingresar con la cuenta de tu empresa")
    browser.wait_for("Proveedor de identidad de pruebas", "Usuario", "Clave")
    browser.fill("Usuario", "ana")
    browser.fill("Clave", PASSWORD)
    browser.press("Entrar")
    browser.wait_for("Sistemas en Suscripción", "Cerrar sesión", desk.razon_social)
    db.session.rollback()
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.user_id == ana.id, AuditEvent.event == "sign_in_sso"))
