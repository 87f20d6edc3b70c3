"""Desks' own OpenID Providers: set through the back-office API (secret write-only, encrypted at rest),
chosen by the e-mail's domain at "Ingresar con la cuenta de tu empresa", "solo con la cuenta de la
empresa", with two real providers running at once."""
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal import clock
from portal.auth import oidc
from portal.extensions import db
from portal.models import AuditEvent, DeskIdentityProvider, SsoIdentity
from tests import factories
from tests.api_support import ApiClient, token
from tests.oidc_helpers import OpenIDProvider, provider_sign_in, user as op_user

PORTAL = "http://portal.test"
RETURN = PORTAL + "/cuenta/sso/retorno"


@pytest.fixture
def api(app, client):
    return ApiClient(client, token())


def sso_body(**extra):
    return {"issuer": "https://login.bajio.com.mx/realms/personal", "client_id": "escritorio",
            "client_secret": "secreto-del-cliente-bajio", "domains": ["Bajio.com.mx"], **extra}


def test_the_back_office_sets_a_desks_provider_and_never_reads_its_secret(api, app):
    desk = factories.desk()
    answer = api.call("PUT", f"/desks/{desk.rfc}/sso", sso_body())
    assert answer.status_code == 201
    body = answer.get_json()
    assert body["domains"] == ["bajio.com.mx"] and body["has_client_secret"] is True
    assert "secreto-del-cliente-bajio" not in answer.get_data(as_text=True)
    row = db.session.get(DeskIdentityProvider, desk.id)
    assert "secreto-del-cliente-bajio" not in row.client_secret_encrypted
    # omitted later: the secret is kept; the same body again changes nothing
    without_secret = {name: value for name, value in sso_body(required=True).items() if name != "client_secret"}
    assert api.call("PUT", f"/desks/{desk.rfc}/sso", without_secret).status_code == 200
    assert api.call("GET", f"/desks/{desk.rfc}/sso").get_json()["required"] is True
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.desk_id == desk.id)).all()
    assert event and all("secreto" not in str(e.detail) for e in event)


@pytest.mark.parametrize("body, field", [
    ({"issuer": "ftp://x"}, "issuer"),
    ({"domains": []}, "domains"),
    ({"domains": ["no es dominio"]}, "domains[0]"),
    ({"client_secret": None}, "client_secret"),
], ids=["issuer", "no-domains", "bad-domain", "first-without-secret"])
def test_bad_input_is_refused_and_nothing_changes(api, body, field):
    desk = factories.desk()
    data = sso_body(**body)
    if body.get("client_secret", "") is None:
        del data["client_secret"]
    answer = api.call("PUT", f"/desks/{desk.rfc}/sso", data)
    assert answer.status_code == 422 and field in answer.get_json()["error"]["fields"]
    assert db.session.get(DeskIdentityProvider, desk.id) is None


def test_a_domain_another_desk_answers_for_is_a_conflict(api):
    first, second = factories.desk(), factories.desk()
    api.call("PUT", f"/desks/{first.rfc}/sso", sso_body())
    answer = api.call("PUT", f"/desks/{second.rfc}/sso", sso_body(domains=["otra.mx", "bajio.com.mx"]))
    assert answer.status_code == 409 and "bajio.com.mx" in answer.get_json()["error"]["message"]
    assert db.session.get(DeskIdentityProvider, second.id) is None


@pytest.fixture(scope="module")
def oidc_providers(tmp_path_factory):
    """Two providers at once: the deployment's (intranet) and one customer company's (bajio)."""
    intranet = OpenIDProvider(tmp_path_factory.mktemp("intranet"), users={
        "ana": op_user("ana", email="ana@empresa.example"),
        "impostora": op_user("impostora", email="laura@bajio.com.mx")})
    bajio = OpenIDProvider(tmp_path_factory.mktemp("bajio"), users={
        "laura": op_user("laura", email="laura@bajio.com.mx"),
        "intrusa": op_user("intrusa", email="ana@empresa.example")})
    for op in (intranet, bajio):
        op.client_id, op.client_secret = op.add_client(RETURN)
        op.start()
    yield intranet, bajio
    for op in (intranet, bajio):
        op.stop()


@pytest.fixture
def bajio_desk(app, api, oidc_providers):
    """The deployment's provider configured, and a desk whose own provider is bajio's ("required")."""
    clock.reset()
    oidc.forget_cache()
    intranet, bajio = oidc_providers
    app.config.update(PORTAL_URL=PORTAL, OIDC_ISSUER=intranet.issuer, OIDC_CLIENT_ID=intranet.client_id,
                      OIDC_CLIENT_SECRET=intranet.client_secret, OIDC_TIMEOUT=3)
    desk = factories.desk()
    answer = api.call("PUT", f"/desks/{desk.rfc}/sso", {
        "issuer": bajio.issuer, "client_id": bajio.client_id, "client_secret": bajio.client_secret,
        "domains": ["bajio.com.mx"], "required": True})
    assert answer.status_code == 201
    return desk


def start_with_email(client, email):
    answer = client.get("/cuenta/sso/iniciar", query_string={"email": email})
    assert answer.status_code == 303, answer.get_data(as_text=True)[:300]
    return answer.headers["Location"]


@pytest.mark.multiprocess  # the providers are Node processes
def test_the_start_page_asks_the_email_and_routes_to_its_companys_provider(client, bajio_desk, oidc_providers):
    intranet, bajio = oidc_providers
    page = client.get("/cuenta/sso/iniciar?next=/perfil")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'method="get"' in text and 'target="_top"' in text and 'name="email"' in text
    laura = factories.user(bajio_desk, email="laura@bajio.com.mx")
    factories.user(email="ana@empresa.example")
    to_bajio = start_with_email(client, "Laura@Bajio.com.mx")
    assert to_bajio.startswith(bajio.issuer + "/") and "login_hint=Laura%40Bajio.com.mx" in to_bajio
    back = urlsplit(provider_sign_in(to_bajio, "laura", portal_url=PORTAL))
    assert client.get(back.path + "?" + back.query).status_code == 303
    assert db.session.scalar(select(SsoIdentity.issuer).where(SsoIdentity.user_id == laura.id)) == bajio.issuer
    client.post("/cuenta/salir")
    # any other domain: the deployment's provider
    assert start_with_email(client, "ana@empresa.example").startswith(intranet.issuer + "/")


@pytest.mark.multiprocess  # the providers are Node processes
def test_a_desks_provider_vouches_only_for_its_domains(client, bajio_desk, oidc_providers):
    _intranet, bajio = oidc_providers
    factories.user(email="ana@empresa.example")
    location = start_with_email(client, "alguien@bajio.com.mx")
    back = urlsplit(provider_sign_in(location, "intrusa", portal_url=PORTAL))  # bajio says ana@empresa.example
    answer = client.get(back.path + "?" + back.query)
    assert answer.status_code == 403 and "no responde por el correo ana@empresa.example" in answer.get_data(as_text=True)
    assert db.session.scalars(select(SsoIdentity)).all() == []


@pytest.mark.multiprocess  # the providers are Node processes
def test_only_with_the_company_account_refuses_the_password_and_says_how_to_get_in(client, bajio_desk):
    laura = factories.user(bajio_desk, email="laura@bajio.com.mx")
    answer = client.post("/cuenta/ingresar", data={"email": laura.email, "password": factories.PASSWORD})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 403
    assert "ingresan solo con la cuenta de su empresa" in page and "Ingresar con la cuenta de tu empresa" in page
    other = factories.user(email="pepe@otra.mx")
    assert client.post("/cuenta/ingresar", data={"email": other.email, "password": factories.PASSWORD}).status_code == 303


@pytest.mark.multiprocess  # the providers are Node processes
def test_a_desk_secret_kept_under_another_secret_key_is_a_clear_page(client, bajio_desk, app):
    app.config["SECRET_KEY"] = "otra-clave-tras-rotarla"
    answer = client.get("/cuenta/sso/iniciar", query_string={"email": "laura@bajio.com.mx"})
    assert answer.status_code == 503 and "no responde en este momento" in answer.get_data(as_text=True)


def test_an_email_no_provider_answers_for_is_told_to_use_the_password(api, client):
    desk = factories.desk()
    assert api.call("PUT", f"/desks/{desk.rfc}/sso", sso_body()).status_code == 201
    assert "Ingresar con la cuenta de tu empresa" in client.get("/cuenta/ingresar").get_data(as_text=True)
    answer = client.get("/cuenta/sso/iniciar", query_string={"email": "pepe@otra.mx"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "Ingresa con tu correo y contraseña" in page and 'value="pepe@otra.mx"' in page
    # the page's form may lead to the desk's provider: its CSP says so
    assert "form-action 'self' https://login.bajio.com.mx" in answer.headers["Content-Security-Policy"]


def test_the_sso_pages_are_valid_html(api, client):
    from tests.test_embed_html_views import problems_of

    desk = factories.desk()
    api.call("PUT", f"/desks/{desk.rfc}/sso", sso_body())
    pages = {"/cuenta/ingresar": client.get("/cuenta/ingresar"),
             "/cuenta/sso/iniciar": client.get("/cuenta/sso/iniciar?next=/perfil"),
             "/cuenta/sso/iniciar?email": client.get("/cuenta/sso/iniciar?email=pepe@otra.mx"),
             "/cuenta/sso/retorno": client.get("/cuenta/sso/retorno?state=x&code=y")}
    assert [problem for url, answer in pages.items() for problem in problems_of(url, answer)] == []
