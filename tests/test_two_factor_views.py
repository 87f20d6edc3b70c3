"""Two-factor sign-in through HTTP with JS off: enrol, sign in with a real TOTP, recovery codes,
turning it off, desks that require it, and a second account that cannot touch the first's."""
import logging
import re

import pyotp
from sqlalchemy import select

from portal import clock
from portal.extensions import db
from portal.models import AuditEvent, OutboxMessage, RecoveryCode, TwoFactorCredential
from tests import factories
from tests.abuse_helpers import record_figure
from tests.accounts_helpers import mail_to, mailbox  # noqa: F401 (fixture)
from tests.conftest import body_of
from tests.two_factor_helpers import enrol, next_code, password_step, secret_from


def _signed_in(client):
    return client.get("/perfil").status_code == 200


def test_enrolment_shows_the_qr_as_an_svg_image_and_the_secret_as_text(client, world, login):
    login(world.a.user)
    page = client.get("/perfil/dos-pasos").get_data(as_text=True)
    assert "Desactivada" in page and "profile-2fa-secret" not in page
    assert client.post("/perfil/dos-pasos/iniciar").status_code == 303
    response = client.get("/perfil/dos-pasos")
    page = response.get_data(as_text=True)
    assert re.search(r'<img class="qr" src="data:image/svg\+xml;charset=utf-8,%3Csvg[^"]+" alt="Código QR', page)
    assert " style=" not in page  # the CSP forbids inline styles
    secret = secret_from(page)
    assert len(secret) == 32 and re.search(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", page)
    # Nothing is on until a first code proves the app has the secret.
    assert db.session.get(TwoFactorCredential, world.a.user.id).confirmed_at is None
    assert "img-src 'self' data:" in response.headers["Content-Security-Policy"]


def test_a_wrong_first_code_or_password_turns_nothing_on(client, world, login):
    login(world.a.user)
    client.post("/perfil/dos-pasos/iniciar")
    secret = secret_from(client.get("/perfil/dos-pasos").get_data(as_text=True))
    wrong = f"{(int(pyotp.TOTP(secret).at(clock.timestamp())) + 1) % 1000000:06d}"
    response = client.post("/perfil/dos-pasos/confirmar", data={"confirm-current_password": factories.PASSWORD,
                                                                "confirm-code": wrong})
    assert response.status_code == 422
    assert "El código de verificación no es correcto o ya se usó." in response.get_data(as_text=True)
    response = client.post("/perfil/dos-pasos/confirmar", data={"confirm-current_password": "otra-cosa-123",
                                                                "confirm-code": pyotp.TOTP(secret).at(clock.timestamp())})
    assert response.status_code == 422
    assert "La contraseña actual no es correcta." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(TwoFactorCredential, world.a.user.id).confirmed_at is None
    assert db.session.scalars(select(RecoveryCode)).all() == []


def test_end_to_end_enrol_then_sign_in_needs_the_code(app, client, world, login, mailbox):
    user = world.a.user
    login(user)
    secret, codes = enrol(client)
    # Enrolling ended the sessions opened with the password alone, except this browser's new one.
    assert _signed_in(client)
    page = client.get("/perfil/dos-pasos").get_data(as_text=True)
    assert "Activada" in page and secret not in page and "profile-2fa-secret" not in page
    assert not any(code in page for code in codes)
    message = mail_to(mailbox(), user.email)
    assert message["Subject"] == "Activaste la verificación en dos pasos"
    assert "el código de tu aplicación de autenticación" in " ".join(body_of(message).split())
    assert secret not in message.as_string()

    client.post("/cuenta/salir")
    response = password_step(client, user, remember="y")
    assert response.status_code == 303 and response.headers["Location"].endswith("/cuenta/verificacion")
    assert not _signed_in(client)  # the password alone does not sign in, remembered or not
    page = client.get("/cuenta/verificacion").get_data(as_text=True)
    assert "Código de verificación" in page
    wrong = client.post("/cuenta/verificacion", data={"code": "000000" if next_code(secret) != "000000" else "111111"})
    assert wrong.status_code == 422 and "no es correcto" in wrong.get_data(as_text=True)
    assert not _signed_in(client)
    ok = client.post("/cuenta/verificacion", data={"code": next_code(secret)})
    assert ok.status_code == 303 and "/cuenta/verificacion" not in ok.headers["Location"]
    assert _signed_in(client)
    assert "remember_token" in {c.key for c in client._cookies.values()}
    events = db.session.scalars(select(AuditEvent.event).where(AuditEvent.user_id == user.id)).all()
    assert {"two_factor_enabled", "two_factor_failed", "two_factor_ok", "sign_in"} <= set(events)


def test_the_same_code_cannot_be_used_twice(client, world, login):
    user = world.a.user
    login(user)
    secret, _codes = enrol(client)
    code = next_code(secret)
    client.post("/cuenta/salir")
    password_step(client, user)
    assert client.post("/cuenta/verificacion", data={"code": code}).status_code == 303
    client.post("/cuenta/salir")
    password_step(client, user)
    assert client.post("/cuenta/verificacion", data={"code": code}).status_code == 422


def test_recovery_codes_work_once_each(client, world, login):
    user = world.a.user
    login(user)
    _secret, codes = enrol(client)
    client.post("/cuenta/salir")
    password_step(client, user)
    response = client.post("/cuenta/verificacion", data={"code": codes[0].lower().replace("-", " ")})
    assert response.status_code == 303
    page = client.get(response.headers["Location"], follow_redirects=True).get_data(as_text=True)
    assert "te quedan 9" in page
    client.post("/cuenta/salir")
    password_step(client, user)
    assert client.post("/cuenta/verificacion", data={"code": codes[0]}).status_code == 422
    assert not _signed_in(client)
    stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and not any(code.replace("-", "") in h for h in stored for code in codes)
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "recovery_code_used")).all()
    assert [e.detail for e in events] == [{"remaining": 9}]


def test_the_second_step_exists_only_after_the_right_password(client, world, login):
    user = world.a.user
    assert client.get("/cuenta/verificacion").status_code == 303
    assert client.post("/cuenta/verificacion", data={"code": "123456"}).status_code == 303
    # An account with 2FA and a wrong password: the same answer as any wrong password.
    login(user)
    enrol(client)
    client.post("/cuenta/salir")
    wrong = password_step(client, user, password="no-es-la-clave-1")
    plain = password_step(client, world.b.user, password="no-es-la-clave-1")
    assert wrong.status_code == plain.status_code == 422
    assert wrong.get_data(as_text=True).count("Correo o contraseña incorrectos.") == 1
    assert "verificaci" not in wrong.get_data(as_text=True).lower().replace("verificación en dos pasos", "")
    assert client.get("/cuenta/verificacion").status_code == 303
    # An account without 2FA signs in with the password alone, as before.
    assert password_step(client, world.b.user).headers["Location"].endswith("/")


def test_the_code_step_has_its_own_limit(client, world, login):
    user = world.a.user
    login(user)
    secret, _codes = enrol(client)
    client.post("/cuenta/salir")
    password_step(client, user)
    good = next_code(secret)
    wrong = f"{(int(good) + 7) % 1000000:06d}"
    for _ in range(5):
        assert client.post("/cuenta/verificacion", data={"code": wrong}).status_code == 422
    limited = client.post("/cuenta/verificacion", data={"code": good})
    assert limited.status_code == 429 and "Demasiados intentos" in limited.get_data(as_text=True)
    assert int(limited.headers["Retry-After"]) > 0
    assert not _signed_in(client)
    record_figure("dos pasos: códigos equivocados de una cuenta antes del 429 (también con el correcto)",
                  "5, luego 429 con Retry-After", "5 por 15 minutos")


def test_the_code_step_swaps_its_form_for_htmx_and_is_a_full_page_without(client, world, login, hx):
    user = world.a.user
    login(user)
    enrol(client)
    client.post("/cuenta/salir")
    password_step(client, user, headers=hx)
    fragment = client.post("/cuenta/verificacion", data={"code": "12"}, headers=hx)
    page = client.post("/cuenta/verificacion", data={"code": "12"})
    assert fragment.status_code == page.status_code == 422
    assert "<html" not in fragment.get_data(as_text=True) and 'id="auth-second-step"' in fragment.get_data(as_text=True)
    assert "<html" in page.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"] and "HX-Request" in page.headers["Vary"]


def test_a_password_change_elsewhere_ends_a_pending_second_step(client, world, login):
    user = world.a.user
    login(user)
    secret, _codes = enrol(client)
    client.post("/cuenta/salir")
    password_step(client, user)
    user.session_token = "otro-token-de-sesion-0000000000"
    db.session.commit()
    response = client.post("/cuenta/verificacion", data={"code": next_code(secret)})
    assert response.status_code == 303 and response.headers["Location"].endswith("/cuenta/ingresar")
    assert not _signed_in(client)


def test_turning_it_off_needs_the_password_and_a_code(client, world, login, mailbox):
    user = world.a.user
    login(user)
    secret, codes = enrol(client)
    mailbox()
    no_code = client.post("/perfil/dos-pasos/desactivar", data={"disable-current_password": factories.PASSWORD})
    assert no_code.status_code == 422
    bad_password = client.post("/perfil/dos-pasos/desactivar", data={
        "disable-current_password": "otra-cosa-123", "disable-code": next_code(secret)})
    assert bad_password.status_code == 422 and "La contraseña actual no es correcta." in bad_password.get_data(as_text=True)
    assert db.session.get(TwoFactorCredential, user.id) is not None
    off = client.post("/perfil/dos-pasos/desactivar", data={
        "disable-current_password": factories.PASSWORD, "disable-code": codes[3]})
    assert off.status_code == 303
    db.session.expire_all()
    assert db.session.get(TwoFactorCredential, user.id) is None
    assert db.session.scalars(select(RecoveryCode)).all() == []
    message = mail_to(mailbox(), user.email)
    assert message["Subject"] == "Desactivaste la verificación en dos pasos"
    assert "Al iniciar sesión ya solo se pedirá tu contraseña." in " ".join(body_of(message).split())
    client.post("/cuenta/salir")
    assert password_step(client, user).headers["Location"].endswith("/")


def test_recovery_codes_can_be_made_again_with_password_and_code(client, world, login):
    login(world.a.user)
    secret, old = enrol(client)
    response = client.post("/perfil/dos-pasos/codigos", data={
        "codes-current_password": factories.PASSWORD, "codes-code": next_code(secret)})
    assert response.status_code == 200
    new = re.findall(r"<li><code>([A-Z0-9-]{14})</code></li>", response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    client.post("/cuenta/salir")
    password_step(client, world.a.user)
    assert client.post("/cuenta/verificacion", data={"code": old[0]}).status_code == 422
    assert client.post("/cuenta/verificacion", data={"code": new[0]}).status_code == 303


def test_a_second_account_cannot_touch_the_firsts_two_factor(app, client, world, login):
    first, second = world.a.user, world.b.user
    login(first)
    secret, codes = enrol(client)
    client.post("/cuenta/salir")
    login(second)
    page = client.get("/perfil/dos-pasos").get_data(as_text=True)
    assert "Desactivada" in page
    # Their proofs do not work on the second's session, and nothing about the first changes.
    response = client.post("/perfil/dos-pasos/desactivar", data={
        "disable-current_password": factories.PASSWORD, "disable-code": codes[0]})
    assert response.status_code == 422
    response = client.post("/perfil/dos-pasos/codigos", data={
        "codes-current_password": factories.PASSWORD, "codes-code": next_code(secret)})
    assert response.status_code == 422
    assert client.post(f"/perfil/dos-pasos/escritorio/{world.a.desk.id}", data={"desk{}-require".format(
        world.a.desk.id): "y"}).status_code == 404
    db.session.expire_all()
    assert db.session.get(TwoFactorCredential, first.id).confirmed_at is not None
    assert len(db.session.scalars(select(RecoveryCode).where(RecoveryCode.used_at.is_(None))).all()) == 10
    assert world.a.desk.require_two_factor is False


def test_a_desk_that_requires_it_leads_its_users_to_enrol_before_the_desk(client, world, login):
    owner = world.a.user
    member = factories.user(world.a.desk, role="member")
    login(owner)
    field = f"desk{world.a.desk.id}-require"
    prefix = f"desk{world.a.desk.id}"
    refused = client.post(f"/perfil/dos-pasos/escritorio/{world.a.desk.id}", data={
        field: "y", f"{prefix}-current_password": factories.PASSWORD, f"{prefix}-code": "123456"})
    assert refused.status_code == 409 and "Activa primero tu propia verificación" in refused.get_data(as_text=True)
    owner_secret, _codes = enrol(client)
    assert client.post(f"/perfil/dos-pasos/escritorio/{world.a.desk.id}", data={
        field: "y", f"{prefix}-current_password": factories.PASSWORD,
        f"{prefix}-code": next_code(owner_secret)}).status_code == 303
    db.session.expire_all()
    assert world.a.desk.require_two_factor is True
    client.post("/cuenta/salir")

    # The member signs in with the password, and is led to enrol before reaching the desk.
    landing = password_step(client, member)
    assert landing.status_code == 303
    desk_page = client.get("/servicios/suscripciones")
    assert desk_page.status_code == 303 and desk_page.headers["Location"].endswith("/perfil/dos-pasos")
    page = client.get("/perfil/dos-pasos").get_data(as_text=True)
    assert "exige la verificación en dos pasos" in page
    assert client.get("/claves-prepago").status_code == 303
    secret, _codes = enrol(client)
    assert client.get("/servicios/suscripciones").status_code == 200
    # While the desk requires it, it cannot be turned off.
    off = client.post("/perfil/dos-pasos/desactivar", data={
        "disable-current_password": factories.PASSWORD, "disable-code": next_code(secret)})
    assert off.status_code == 409 and "exige la verificación en dos pasos" in off.get_data(as_text=True)
    # The other desk is not affected.
    client.post("/cuenta/salir")
    login(world.b.user)
    assert client.get("/servicios/suscripciones").status_code == 200


def test_no_secret_in_audit_rows_outbox_or_logs(client, world, login, caplog):
    caplog.set_level(logging.DEBUG)
    login(world.a.user)
    secret, codes = enrol(client)
    client.post("/cuenta/salir")
    password_step(client, world.a.user)
    client.post("/cuenta/verificacion", data={"code": codes[1]})
    dumped = " ".join(str((e.event, e.actor, e.detail)) for e in db.session.scalars(select(AuditEvent)))
    dumped += " ".join(m.body_text + (m.body_html or "") for m in db.session.scalars(select(OutboxMessage)))
    assert secret not in dumped
    assert not any(code in dumped or code.replace("-", "") in dumped for code in codes)
    stored = db.session.get(TwoFactorCredential, world.a.user.id).secret_encrypted
    assert secret not in stored
    logged = "\n".join(caplog.handler.format(record) for record in caplog.records)
    assert secret not in logged and not any(code in logged for code in codes)
