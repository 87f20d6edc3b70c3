"""Sign-in by a trusted reverse proxy's header (AUTH_PROXY_HEADER from AUTH_PROXY_ADDRESSES only)."""
import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, UserSession
from tests import factories

HEADER = "X-Remote-Email"
PROXY = {"REMOTE_ADDR": "10.0.0.5"}
pytestmark = pytest.mark.app_config(AUTH_PROXY_HEADER=HEADER, AUTH_PROXY_ADDRESSES="10.0.0.0/29, ::1")


def sessions():
    return db.session.scalar(select(func.count()).select_from(UserSession))


def test_the_proxys_header_signs_in_the_account_with_that_email(client):
    desk = factories.desk()
    ana = factories.user(desk, email="ana@empresa.example")
    page = client.get("/servicios/suscripciones", headers={HEADER: "Ana@Empresa.example"}, environ_base=PROXY)
    assert page.status_code == 200 and desk.razon_social in page.get_data(as_text=True)
    assert client.get("/servicios/suscripciones", headers={HEADER: "ana@empresa.example"}, environ_base=PROXY).status_code == 200
    assert sessions() == 1
    assert db.session.scalar(select(AuditEvent.event).where(AuditEvent.user_id == ana.id)) == "sign_in_proxy"
    # the proxy names someone else now: ana's session ends
    beto = factories.user(desk, email="beto@empresa.example")
    client.get("/servicios/suscripciones", headers={HEADER: beto.email}, environ_base=PROXY)
    assert db.session.scalars(select(UserSession.user_id)).all() == [beto.id]


def test_the_header_from_anyone_else_is_ignored_and_logged(client, caplog):
    factories.user(factories.desk(), email="ana@empresa.example")
    answer = client.get("/servicios/suscripciones", headers={HEADER: "ana@empresa.example"},
                        environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert answer.status_code == 302 and "/cuenta/ingresar" in answer.headers["Location"]
    assert sessions() == 0
    assert "no está en AUTH_PROXY_ADDRESSES" in caplog.text and "ana@empresa.example" not in caplog.text


def test_an_unknown_email_signs_in_no_one_and_the_password_form_still_works(client, login):
    answer = client.get("/cuenta/ingresar", headers={HEADER: "nadie@empresa.example"}, environ_base=PROXY)
    assert answer.status_code == 200 and sessions() == 0


def test_an_account_with_two_steps_is_asked_its_code(client):
    from portal.auth import totp
    from portal.models import TwoFactorCredential
    from portal import clock
    import pyotp

    ana = factories.user(factories.desk(), email="ana@empresa.example")
    secret = totp.new_secret()
    db.session.add(TwoFactorCredential(user_id=ana.id, secret_encrypted=totp.encrypt(secret), confirmed_at=clock.now()))
    db.session.commit()
    answer = client.get("/servicios/suscripciones", headers={HEADER: ana.email}, environ_base=PROXY)
    assert answer.status_code == 303 and answer.headers["Location"] == "/cuenta/verificacion"
    assert sessions() == 0
    done = client.post("/cuenta/verificacion", data={"code": pyotp.TOTP(secret).at(clock.timestamp())},
                       headers={HEADER: ana.email}, environ_base=PROXY)
    assert done.status_code == 303 and done.headers["Location"] == "/servicios/suscripciones"
    assert sessions() == 1
