"""Sign-in with the company's account against a real OpenID Provider (tests/oidc_provider/), in process.

The portal is the test client; the provider's pages are walked by a plain HTTP client, as a browser
without JavaScript would (tests/oidc_helpers.py).
"""
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from portal import clock
from portal.auth import oidc
from portal.extensions import db
from portal.models import AuditEvent, SsoIdentity, User, UserSession
from tests import factories
from tests.oidc_helpers import OpenIDProvider, provider_sign_in, user as op_user

PORTAL = "http://portal.test"


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    op = OpenIDProvider(tmp_path_factory.mktemp("op"), users={
        "ana": op_user("ana", email="ana@empresa.example"),
        "beto": op_user("beto", email="beto@empresa.example", email_verified=False),
        "caro": op_user("caro", email="caro@empresa.example", amr=("pwd", "mfa")),
        "nadie": op_user("nadie", email="nadie@empresa.example"),
    })
    op.client_id, op.client_secret = op.add_client(PORTAL + "/cuenta/sso/retorno", client_id="portal")
    op.start()
    yield op
    op.stop()


@pytest.fixture
def sso_app(app, provider):
    """The app with the provider as its deployment-wide one, on the real clock (the provider's)."""
    clock.reset()
    oidc.forget_cache()
    app.config.update(PORTAL_URL=PORTAL, OIDC_ISSUER=provider.issuer, OIDC_CLIENT_ID=provider.client_id,
                      OIDC_CLIENT_SECRET=provider.client_secret, OIDC_TIMEOUT=3)
    return app


def start(client, **params):
    answer = client.get("/cuenta/sso/iniciar", query_string=params)
    assert answer.status_code == 303, answer.get_data(as_text=True)[:300]
    return answer.headers["Location"]


def come_back(client, provider, login, **params):
    """Start, sign in at the provider as `login`, and return the portal's answer to the return URL."""
    back = provider_sign_in(start(client, **params), login, portal_url=PORTAL)
    parts = urlsplit(back)
    return client.get(parts.path + "?" + parts.query), back


def sessions_of(user):
    return db.session.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id))


def test_the_sign_in_page_offers_the_company_account_only_when_configured(client, app, provider):
    assert "Ingresar con la cuenta de tu empresa" not in client.get("/cuenta/ingresar").get_data(as_text=True)
    app.config.update(OIDC_ISSUER=provider.issuer, OIDC_CLIENT_ID="portal", OIDC_CLIENT_SECRET="x")
    page = client.get("/cuenta/ingresar?next=/servicios/").get_data(as_text=True)
    assert "Ingresar con la cuenta de tu empresa" in page
    assert 'target="_top" href="/cuenta/sso/iniciar?next=/servicios/' in page


def test_a_verified_email_signs_in_as_its_account_and_links_it(client, sso_app, provider):
    desk = factories.desk()
    ana = factories.user(desk, email="ana@empresa.example")
    location = start(client, next="/servicios/suscripciones")
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(provider.discovery["authorization_endpoint"])
    assert query["code_challenge_method"] == ["S256"] and query["redirect_uri"] == [PORTAL + "/cuenta/sso/retorno"]
    assert query["state"] and query["nonce"] and query["scope"] == ["openid email profile"]
    back = provider_sign_in(location, "ana", portal_url=PORTAL)
    answer = client.get(urlsplit(back).path + "?" + urlsplit(back).query)
    assert answer.status_code == 303 and answer.headers["Location"] == "/servicios/suscripciones"
    assert client.get("/servicios/suscripciones").status_code == 200
    link = db.session.scalar(select(SsoIdentity).where(SsoIdentity.user_id == ana.id))
    assert (link.issuer, link.subject) == (provider.issuer, "ana")
    assert sessions_of(ana) == 1
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.user_id == ana.id, AuditEvent.event == "sign_in_sso"))
    assert event is not None
    assert "Inicio de sesión con la cuenta de tu empresa" in client.get("/perfil/actividad").get_data(as_text=True)
