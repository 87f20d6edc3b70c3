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
from portal.models import AuditEvent, Membership, SsoIdentity, User, UserSession
from tests import factories
from tests.oidc_helpers import OpenIDProvider, provider_sign_in, user as op_user

PORTAL = "http://portal.test"
pytestmark = pytest.mark.multiprocess  # the provider is a Node process


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory):
    op = OpenIDProvider(tmp_path_factory.mktemp("op"), users={
        "ana": op_user("ana", email="ana@empresa.example"),
        "beto": op_user("beto", email="beto@empresa.example", email_verified=False),
        "caro": op_user("caro", email="caro@empresa.example", amr=("pwd", "mfa")),
        "nadie": op_user("nadie", email="nadie@empresa.example"),
        "ana-otra": op_user("ana-otra", email="ana@empresa.example"),  # another identity with ana's address
        "dora": op_user("dora", email="dora@empresa.example", name="Dora Díaz", groups=("ventas", "otros")),
    })
    op.client_id, op.client_secret = op.add_client(PORTAL + "/cuenta/sso/retorno", client_id="portal")
    op.add_client(PORTAL + "/cuenta/sso/retorno", client_id="otra-aplicacion")  # another client, same return
    op.start()
    yield op
    op.stop()


@pytest.fixture
def sso_app(app, oidc_provider):
    """The app with the provider as its deployment-wide one, on the real clock (the provider's)."""
    clock.reset()
    oidc.forget_cache()
    app.config.update(PORTAL_URL=PORTAL, OIDC_ISSUER=oidc_provider.issuer, OIDC_CLIENT_ID=oidc_provider.client_id,
                      OIDC_CLIENT_SECRET=oidc_provider.client_secret, OIDC_TIMEOUT=3)
    return app


def start(client, **params):
    answer = client.get("/cuenta/sso/iniciar", query_string=params)
    assert answer.status_code == 303, answer.get_data(as_text=True)[:300]
    return answer.headers["Location"]


def come_back(client, oidc_provider, login, **params):
    """Start, sign in at the provider as `login`, and return the portal's answer to the return URL."""
    back = provider_sign_in(start(client, **params), login, portal_url=PORTAL)
    parts = urlsplit(back)
    return client.get(parts.path + "?" + parts.query), back


def sessions_of(user):
    return db.session.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id))


def test_the_sign_in_page_offers_the_company_account_only_when_configured(client, app, oidc_provider):
    assert "Ingresar con la cuenta de tu empresa" not in client.get("/cuenta/ingresar").get_data(as_text=True)
    app.config.update(OIDC_ISSUER=oidc_provider.issuer, OIDC_CLIENT_ID="portal", OIDC_CLIENT_SECRET="x")
    page = client.get("/cuenta/ingresar?next=/servicios/").get_data(as_text=True)
    assert "Ingresar con la cuenta de tu empresa" in page
    assert 'target="_top" href="/cuenta/sso/iniciar?next=/servicios/' in page


def test_a_verified_email_signs_in_as_its_account_and_links_it(client, sso_app, oidc_provider):
    desk = factories.desk()
    ana = factories.user(desk, email="ana@empresa.example")
    location = start(client, next="/servicios/suscripciones")
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(oidc_provider.discovery["authorization_endpoint"])
    assert query["code_challenge_method"] == ["S256"] and query["redirect_uri"] == [PORTAL + "/cuenta/sso/retorno"]
    assert query["state"] and query["nonce"] and query["scope"] == ["openid email profile"]
    back = provider_sign_in(location, "ana", portal_url=PORTAL)
    answer = client.get(urlsplit(back).path + "?" + urlsplit(back).query)
    assert answer.status_code == 303 and answer.headers["Location"] == "/servicios/suscripciones"
    assert client.get("/servicios/suscripciones").status_code == 200
    link = db.session.scalar(select(SsoIdentity).where(SsoIdentity.user_id == ana.id))
    assert (link.issuer, link.subject) == (oidc_provider.issuer, "ana")
    assert sessions_of(ana) == 1
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.user_id == ana.id, AuditEvent.event == "sign_in_sso"))
    assert event is not None
    assert "Inicio de sesión con la cuenta de tu empresa" in client.get("/perfil/actividad").get_data(as_text=True)


def back_path(url):
    parts = urlsplit(url)
    return parts.path + "?" + parts.query


def no_session_and_no_link():
    return (db.session.scalar(select(func.count()).select_from(UserSession)) == 0
            and db.session.scalar(select(func.count()).select_from(SsoIdentity)) == 0)


def test_the_return_refuses_a_missing_or_other_state_and_a_replayed_code(client, sso_app, oidc_provider, app):
    factories.user(email="ana@empresa.example")
    answer = client.get("/cuenta/sso/retorno?code=abc&state=xyz")  # no sign-in in progress here
    assert answer.status_code == 400 and "no corresponde a un inicio de sesión en curso" in answer.get_data(as_text=True)
    back = provider_sign_in(start(client), "ana", portal_url=PORTAL)
    other = app.test_client()
    start(other)  # a sign-in in progress in another browser: its state is not this one
    assert other.get(back_path(back)).status_code == 400
    assert no_session_and_no_link()
    assert client.get(back_path(back)).status_code == 303  # the browser that started it
    replayed = client.get(back_path(back))
    assert replayed.status_code == 400 and "Vuelve a ingresar" in replayed.get_data(as_text=True)
    # the same code in a new sign-in of this browser (its own state): the provider refuses the used code
    location = start(client)
    state = parse_qs(urlsplit(location).query)["state"][0]
    code = parse_qs(urlsplit(back).query)["code"][0]
    refused = client.get(f"/cuenta/sso/retorno?code={code}&state={state}")
    assert refused.status_code == 400 and "rechazó este inicio de sesión" in refused.get_data(as_text=True)


def test_a_sign_in_started_in_another_tab_does_not_spoil_the_first(client, sso_app, oidc_provider):
    factories.user(email="ana@empresa.example")
    first = start(client, next="/perfil")
    start(client, next="/servicios/suscripciones")  # another tab, left on the provider's page
    answer = client.get(back_path(provider_sign_in(first, "ana", portal_url=PORTAL)))
    assert answer.status_code == 303 and answer.headers["Location"] == "/perfil"


def test_unverified_unknown_and_off_site_next(client, sso_app, oidc_provider, caplog):
    factories.user(email="beto@empresa.example")
    answer, _ = come_back(client, oidc_provider, "beto")
    assert answer.status_code == 403 and "no ha verificado el correo beto@empresa.example" in answer.get_data(as_text=True)
    answer, _ = come_back(client, oidc_provider, "nadie")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 403 and "Pide a quien administra el escritorio de tu empresa" in page
    assert no_session_and_no_link()
    factories.user(email="ana@empresa.example")
    answer, back = come_back(client, oidc_provider, "ana", next="https://malo.example/")
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    code = parse_qs(urlsplit(back).query)["code"][0]
    assert code not in caplog.text and "eyJ" not in caplog.text


def test_an_account_linked_to_one_identity_refuses_another_with_its_address(client, sso_app, oidc_provider):
    ana = factories.user(email="ana@empresa.example")
    assert come_back(client, oidc_provider, "ana")[0].status_code == 303
    client.post("/cuenta/salir")
    answer, _ = come_back(client, oidc_provider, "ana-otra")
    assert answer.status_code == 403 and "ya está vinculada con otra cuenta" in answer.get_data(as_text=True)
    assert db.session.scalars(select(SsoIdentity.subject).where(SsoIdentity.user_id == ana.id)).all() == ["ana"]
    assert sessions_of(ana) == 0


def test_auto_created_account_gets_desks_by_groups(client, sso_app, oidc_provider):
    ventas, compras = factories.desk(), factories.desk()
    sso_app.config.update(OIDC_AUTO_CREATE=True, OIDC_DESK_GROUP_MAP=[("ventas", ventas.rfc, "member"),
                                                                      ("compras", compras.rfc, "owner")])
    answer, _ = come_back(client, oidc_provider, "dora")
    assert answer.status_code == 303
    dora = db.session.scalar(select(User).where(User.email == "dora@empresa.example"))
    assert (dora.name, dora.password_hash, dora.email_verified) == ("Dora Díaz", None, True)
    roles = db.session.execute(select(Membership.desk_id, Membership.role).where(Membership.user_id == dora.id)).all()
    assert roles == [(ventas.id, "member")]
    page = client.get("/servicios/suscripciones").get_data(as_text=True)
    assert ventas.razon_social in page and compras.razon_social not in page


def test_a_desk_requiring_two_steps_accepts_the_providers_mfa_and_asks_the_code_otherwise(client, sso_app, oidc_provider, app):
    from tests.two_factor_helpers import enrol, next_code

    desk = factories.desk(require_two_factor=True)
    factories.user(desk, email="caro@empresa.example")
    ana = factories.user(desk, email="ana@empresa.example")
    answer, _ = come_back(client, oidc_provider, "caro")  # amr: pwd + mfa
    assert answer.status_code == 303
    assert client.get("/servicios/suscripciones").status_code == 200  # no enrolment asked
    # ana (amr pwd) enrolled an app: the provider's password is not enough, the code is asked
    second = app.test_client()
    assert second.post("/cuenta/ingresar", data={"email": ana.email, "password": factories.PASSWORD}).status_code == 303
    secret, _codes = enrol(second)
    third = app.test_client()
    answer, _ = come_back(third, oidc_provider, "ana")
    assert answer.status_code == 303 and answer.headers["Location"] == "/cuenta/verificacion"
    assert third.get("/servicios/suscripciones").status_code == 302  # not signed in yet
    done = third.post("/cuenta/verificacion", data={"code": next_code(secret)})
    assert done.status_code == 303
    assert third.get("/servicios/suscripciones").status_code == 200
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.user_id == ana.id, AuditEvent.event == "sign_in_sso"))


def test_sign_out_goes_through_the_providers_end_session_and_back(client, sso_app, oidc_provider):
    factories.user(email="ana@empresa.example")
    come_back(client, oidc_provider, "ana")
    answer = client.post("/cuenta/salir")
    assert answer.status_code == 303
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert answer.headers["Location"].startswith(oidc_provider.discovery["end_session_endpoint"])
    assert query == {"client_id": [oidc_provider.client_id], "post_logout_redirect_uri": [PORTAL + "/cuenta/ingresar"]}
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0


def test_provider_down_or_slow_is_a_clear_page_and_the_password_still_works(client, sso_app, login):
    import socket

    ana = factories.user(email="ana@empresa.example")
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        sso_app.config.update(OIDC_ISSUER=f"http://127.0.0.1:{silent.getsockname()[1]}", OIDC_TIMEOUT=0.5)
        answer = client.get("/cuenta/sso/iniciar")
    assert answer.status_code == 503 and "no responde en este momento" in answer.get_data(as_text=True)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    sso_app.config.update(OIDC_ISSUER=f"http://127.0.0.1:{port}")
    assert client.get("/cuenta/sso/iniciar").status_code == 503
    assert "Ingresar con la cuenta de tu empresa" in client.get("/cuenta/ingresar").get_data(as_text=True)
    login(ana)


def test_cancelled_at_the_provider_or_provider_gone_before_the_return(client, sso_app, oidc_provider):
    factories.user(email="ana@empresa.example")
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    cancelled = client.get(f"/cuenta/sso/retorno?error=access_denied&state={state}")
    assert cancelled.status_code == 400 and "no completó el inicio de sesión" in cancelled.get_data(as_text=True)
    back = provider_sign_in(start(client), "ana", portal_url=PORTAL)
    oidc_provider.stop()  # its token endpoint and keys unreachable when the browser comes back
    try:
        answer = client.get(back_path(back))
    finally:
        oidc_provider.start()
    assert answer.status_code == 503 and "no responde en este momento" in answer.get_data(as_text=True)
    assert no_session_and_no_link()


def test_key_rotation_at_the_provider(client, sso_app, oidc_provider):
    factories.user(email="ana@empresa.example")
    assert come_back(client, oidc_provider, "ana")[0].status_code == 303  # keys cached
    client.post("/cuenta/salir")
    oidc_provider.rotate_keys()
    answer, _ = come_back(client, oidc_provider, "ana")  # unknown kid: fetched again
    assert answer.status_code == 303


def _readme_sample():
    """The settings of the README's "Inicio de sesión único" sample, as {name: value}."""
    import re
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Inicio de sesión único", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return dict(shlex.split(line)[0].split("=", 1) for line in block.splitlines() if line.strip())


def test_the_readmes_sample_configures_a_portal_that_signs_in_with_it(client, app, oidc_provider, monkeypatch, tmp_path):
    from portal import create_app

    sample = _readme_sample()
    for name, value in sample.items():
        monkeypatch.setenv(name, value)
    configured = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/sample.db"})
    assert configured.config["OIDC_ISSUER"] == sample["OIDC_ISSUER"] and configured.config["OIDC_AUTO_CREATE"] is True
    assert ("ventas", "CBA950612K21", "member") in configured.config["OIDC_DESK_GROUP_MAP"]
    # The same settings, pointed at the running provider: dora (group ventas) arrives as a member.
    clock.reset()
    oidc.forget_cache()
    desk = factories.desk(rfc="CBA950612K21")
    app.config.update(PORTAL_URL=PORTAL, OIDC_ISSUER=oidc_provider.issuer, OIDC_CLIENT_ID=oidc_provider.client_id,
                      OIDC_CLIENT_SECRET=oidc_provider.client_secret, OIDC_AUTO_CREATE=True,
                      OIDC_DESK_GROUP_MAP=configured.config["OIDC_DESK_GROUP_MAP"])
    answer, _ = come_back(client, oidc_provider, "dora")
    assert answer.status_code == 303
    dora = db.session.scalar(select(User).where(User.email == "dora@empresa.example"))
    assert db.session.scalar(select(Membership.role).where(Membership.user_id == dora.id,
                                                           Membership.desk_id == desk.id)) == "member"


def test_a_code_issued_to_another_client_is_refused(client, sso_app, oidc_provider):
    """A code the provider gave another application, slipped into this browser's return (with its
    own state): the provider refuses to exchange it for the portal, and nothing changes."""
    from urllib.parse import urlencode

    factories.user(email="ana@empresa.example")
    location = start(client)
    ours = parse_qs(urlsplit(location).query)
    theirs = {name: values[0] for name, values in ours.items()} | {"client_id": "otra-aplicacion"}
    back = provider_sign_in(oidc_provider.discovery["authorization_endpoint"] + "?" + urlencode(theirs), "ana",
                            portal_url=PORTAL)
    answer = client.get(back_path(back))
    assert answer.status_code == 400 and "rechazó este inicio de sesión" in answer.get_data(as_text=True)
    assert no_session_and_no_link()
