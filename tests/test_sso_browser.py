"""In Chromium, JavaScript on and off: "Ingresar con la cuenta de tu empresa" from the portal framed by
an intranet page of another origin, under SCRIPT_NAME=/portal with the proxy settings, through a real
OpenID Provider's pages and back to the framed page; then Cerrar sesión through the provider."""
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal import clock
from portal.auth import oidc
from portal.extensions import db
from portal.models import AuditEvent
from tests import factories
from tests.embed_helpers import sqlite_only
from tests.oidc_helpers import PASSWORD, OpenIDProvider, user as op_user
from tests.test_embed_browser import INTRANET, intranet  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.multiprocess, sqlite_only]  # the flow is the same whatever the database


@pytest.fixture
def oidc_provider(app, live_server, tmp_path):
    """The provider, with the portal (under /portal) as its client; the portal's clock runs real
    time, as the provider's tokens do."""
    clock.reset()
    oidc.forget_cache()
    portal_url = live_server.url("/portal")
    # At localhost, another site than the portal at 127.0.0.1: the return is a cross-site navigation,
    # which the session cookie (SameSite=Lax, the default) must survive.
    op = OpenIDProvider(tmp_path, {"ana": op_user("ana", email="ana@empresa.example")}, host="localhost")
    op.client_id, op.client_secret = op.add_client(portal_url + "/cuenta/sso/retorno")
    op.start()
    app.config.update(PORTAL_URL=portal_url, OIDC_ISSUER=op.issuer, OIDC_CLIENT_ID=op.client_id,
                      OIDC_CLIENT_SECRET=op.client_secret)
    yield op
    op.stop()


@pytest.mark.parametrize("js", [True, False], ids=["js", "sin-js"])
@pytest.mark.app_config(SCRIPT_NAME="/portal", PROXY_COUNT=1, FRAME_ANCESTORS=f"'self' {INTRANET}")
def test_company_sign_in_leaves_the_frame_and_comes_back_to_the_framed_page(app, live_server, browser_page, intranet,  # noqa: F811
                                                                             oidc_provider, js):
    desk = factories.desk()
    ana = factories.user(desk, email="ana@empresa.example")
    portal = live_server.url("/portal")
    page = browser_page(js=js, extra_http_headers={"X-Forwarded-Proto": "http", "X-Forwarded-For": "203.0.113.9"})
    page.goto(intranet(portal + "/cuenta/ingresar?next=/servicios/suscripciones"))
    frame = page.frame_locator("#portal")
    frame.get_by_role("link", name="Ingresar con la cuenta de tu empresa").click()

    # The provider's page, top-level (it could not be framed), a plain form.
    expect(page.get_by_role("heading", name="Proveedor de identidad de pruebas")).to_be_visible()
    assert page.url.startswith(oidc_provider.issuer + "/")
    page.get_by_label("Usuario").fill("ana")
    page.get_by_label("Clave").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()

    page.wait_for_url(portal + "/servicios/suscripciones")
    expect(page.get_by_role("heading", name="Sistemas en Suscripción")).to_be_visible()
    # The desk menu names the desk (its title whole, the text cut short).
    expect(page.locator(f'summary[title="{desk.razon_social}"]')).to_be_visible()
    db.session.rollback()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.user_id == ana.id, AuditEvent.event == "sign_in_sso"))
    assert event is not None and event.ip == "203.0.113.9"

    # Cerrar sesión: the portal's session ends, the provider's too, and the browser comes back.
    page.locator("#user-menu summary").click()
    page.get_by_role("button", name="Cerrar sesión").click()
    expect(page.get_by_role("heading", name="¿Cerrar la sesión del proveedor?")).to_be_visible()
    page.get_by_role("button", name="Salir del proveedor").click()
    page.wait_for_url(portal + "/cuenta/ingresar")
    expect(page.get_by_role("heading", name="Iniciar sesión")).to_be_visible()
    page.goto(portal + "/servicios/suscripciones")
    expect(page.get_by_role("heading", name="Iniciar sesión")).to_be_visible()
