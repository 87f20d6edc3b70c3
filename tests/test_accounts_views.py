"""Accounts through HTTP: Crear cuenta, verification, sign-in limits, password reset.

Every e-mail is read from the real SMTP server the outbox delivers to.
"""
import re
import uuid

import pytest

from portal import clock
from portal.auth import tokens
from portal.extensions import db
from portal.models import AuditEvent, Desk, Membership, OutboxMessage, User
from tests import factories
from tests.accounts_helpers import mailbox  # noqa: F401 (fixture)
from tests.accounts_helpers import (NEW_PASSWORD, link_in, mail_to, sign_in_from_another_process,
                                    sign_up_data)
from tests.conftest import REDIS_URL, body_of

SIGN_UP_EMAIL = "ana.lopez@ferreteria-lopez.mx"


def _user(email):
    db.session.expire_all()
    return db.session.query(User).filter_by(email=email.lower()).one_or_none()


def _sign_in(client, email, password, **kwargs):
    return client.post("/cuenta/ingresar", data={"email": email, "password": password}, **kwargs)


def _error_of(page, field):
    """The message shown next to a field (the macro gives it the id <field>-error)."""
    match = re.search(rf'id="{field}-error">([^<]*)<', page)
    return match.group(1) if match else None


# --- Crear cuenta -----------------------------------------------------------------------------

def test_sign_up_then_verify_from_the_email_then_sign_in(client, mailbox):
    response = client.post("/cuenta/crear", data=sign_up_data())
    assert response.status_code == 303 and response.headers["Location"] == "/cuenta/crear/enviado"
    assert "Te enviamos un correo a la dirección que capturaste" in client.get("/cuenta/crear/enviado").get_data(as_text=True)

    user = _user(SIGN_UP_EMAIL)
    assert (user.name, user.phone, user.email_verified) == ("Ana López Ruiz", "55 1234 5678", False)
    assert user.password_hash.startswith("scrypt:")
    [membership] = user.memberships
    assert membership.role == "owner"
    assert (membership.desk.razon_social, membership.desk.rfc, membership.desk.kind) == (
        "Ferretería López S.A. de C.V.", "FEL950612K21", "cliente")

    message = mail_to(mailbox(), SIGN_UP_EMAIL)
    assert message["Subject"] == "Confirma tu cuenta del Escritorio de Servicios"
    text = body_of(message)
    assert "Hola Ana López Ruiz" in text and "vence en 72 horas" in text and "escritorio registrado" not in text
    assert "Verificar mi correo" in body_of(message, "html")

    # Not yet verified: signing in works, and lands on the page that says why to verify.
    signed_in = _sign_in(client, SIGN_UP_EMAIL, "Martillo-azul-2026")
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/cuenta/verificar"
    page = client.get("/cuenta/verificar").get_data(as_text=True)
    assert "Verifica tu correo electrónico" in page and "Reenviar correo de verificación" in page
    assert "Tu CDA y tus claves se envían por correo" in page

    link = link_in(message, "/cuenta/verificar/")
    opened = client.get(link)  # what a mail scanner does too: a page with a button, nothing verified
    assert opened.status_code == 200 and "Verificar mi correo" in opened.get_data(as_text=True)
    assert not _user(SIGN_UP_EMAIL).email_verified
    verified = client.post(link)
    assert verified.status_code == 303
    assert "¡Listo! Tu correo quedó verificado." in client.get("/cuenta/verificar").get_data(as_text=True)
    assert _user(SIGN_UP_EMAIL).email_verified

    used = client.post(link)
    assert used.status_code == 400
    assert "Este enlace ya se usó" in used.get_data(as_text=True)


def test_sign_up_over_htmx_navigates_to_the_same_answer(client, hx):
    response = client.post("/cuenta/crear", data=sign_up_data(), headers=hx)
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/cuenta/crear/enviado"


def test_sign_up_with_a_known_email_answers_the_same_and_tells_only_its_owner(client, world, mailbox):
    fresh = client.post("/cuenta/crear", data=sign_up_data(email="nueva@empresa-nueva.mx", rfc="NUE950612K21"))
    known = client.post("/cuenta/crear", data=sign_up_data(email=world.a.user.email.upper(), rfc="OTR950612K21"))
    assert (fresh.status_code, fresh.headers["Location"], fresh.get_data()) == (
        known.status_code, known.headers["Location"], known.get_data())

    messages = mailbox()
    assert len(messages) == 2
    notice = mail_to(messages, world.a.user.email)
    assert notice["Subject"] == "Intento de crear una cuenta con tu correo"
    assert "ya tienes una cuenta con ella" in body_of(notice) and "/cuenta/recuperar" in body_of(notice)
    assert db.session.query(User).filter(User.email == world.a.user.email).count() == 1
    assert db.session.query(Desk).filter_by(rfc="OTR950612K21").count() == 0
    event = db.session.query(AuditEvent).filter_by(event="sign_up_existing_email").one()
    assert event.user_id == world.a.user.id


def test_sign_up_with_a_registered_rfc_answers_the_same_and_joins_no_desk(client, world, mailbox, login):
    response = client.post("/cuenta/crear", data=sign_up_data(email="intruso@otra.mx", rfc=world.a.desk.rfc.lower()))
    assert response.status_code == 303 and response.headers["Location"] == "/cuenta/crear/enviado"
    user = _user("intruso@otra.mx")
    assert user is not None and user.memberships == []
    assert db.session.query(Membership).filter_by(desk_id=world.a.desk.id).count() == 1

    message = mail_to(mailbox(), "intruso@otra.mx")
    assert message["Subject"] == "Confirma tu cuenta del Escritorio de Servicios"
    assert "ya existe un escritorio registrado con el RFC" in body_of(message)
    assert world.a.desk.razon_social not in body_of(message)

    client.post(link_in(message, "/cuenta/verificar/"))
    _sign_in(client, "intruso@otra.mx", "Martillo-azul-2026")
    page = client.get("/claves-prepago")
    assert page.status_code == 403 and world.a.desk.razon_social not in page.get_data(as_text=True)


BAD_SIGN_UPS = [
    ("correo mal formado", {"email": "ana@@ferreteria"}, "email", "Captura un correo electrónico válido."),
    ("correo con otro alfabeto", {"email": "аna@ferreteria.mx"}, "email",
     "El correo no admite acentos, ñ ni letras de otros alfabetos."),
    ("RFC con fecha inválida", {"rfc": "FEL950230K21"}, "rfc", "La fecha del RFC (AAMMDD) no es una fecha válida."),
    ("RFC corto", {"rfc": "FEL95061K21"}, "rfc", "El RFC debe tener 12 caracteres (persona moral) o 13 (persona física)."),
    ("RFC largo", {"rfc": "FELIX950612K21"}, "rfc", "El RFC debe tener 12 caracteres (persona moral) o 13 (persona física)."),
    ("RFC genérico", {"rfc": "XAXX010101000"}, "rfc", "El RFC genérico no sirve para crear una cuenta: captura el RFC de tu empresa."),
    ("contraseñas distintas", {"password_confirm": "Martillo-azul-2027"}, "password_confirm", "Las contraseñas no coinciden."),
    ("contraseña corta", {"password": "Mar-26", "password_confirm": "Mar-26"}, "password",
     "La contraseña debe tener al menos 8 caracteres."),
    ("contraseña común", {"password": "contraseña123", "password_confirm": "contraseña123"}, "password",
     "Esa contraseña es demasiado común y fácil de adivinar. Elige otra."),
    ("contraseña igual al correo", {"password": SIGN_UP_EMAIL, "password_confirm": SIGN_UP_EMAIL}, "password",
     "La contraseña no puede ser tu correo electrónico."),
    ("sin aceptar términos", {"accept_terms": None}, "accept_terms",
     "Para crear tu cuenta debes aceptar los términos y condiciones."),
    ("10 kB de razón social", {"razon_social": "Ferretería " * 1000}, "razon_social",
     "La razón social admite como máximo 200 caracteres."),
    ("10 kB de contraseña", {"password": "x" * 10_240, "password_confirm": "x" * 10_240}, "password",
     "La contraseña admite como máximo 128 caracteres."),
    ("nombre con letras cirílicas", {"name": "Аna Lópеz"}, "name",
     "El nombre de contacto solo admite letras del alfabeto latino, números y signos comunes."),
    ("razón social con caracteres de control", {"razon_social": "Ferretería\u202e López"}, "razon_social",
     "La razón social contiene caracteres de control o invisibles."),
    ("nombre con un escape de terminal", {"name": "Ana\x1b[2J López"}, "name",
     "El nombre de contacto contiene caracteres de control o invisibles."),
    ("teléfono con letras", {"phone": "cinco cinco"}, "phone",
     "Captura un teléfono válido: solo números, espacios y los signos + ( ) -."),
    ("razón social vacía", {"razon_social": "   "}, "razon_social", "Captura la razón social."),
]


@pytest.mark.parametrize("label, changes, field, message", BAD_SIGN_UPS, ids=[b[0] for b in BAD_SIGN_UPS])
def test_bad_sign_up_input_is_explained_next_to_its_field_and_nothing_is_stored(client, label, changes, field, message):
    response = client.post("/cuenta/crear", data=sign_up_data(**changes))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert _error_of(page, field) == message
    assert 'aria-invalid="true"' in page and "Revisa los datos marcados." in page
    assert db.session.query(User).count() == 0 and db.session.query(Desk).count() == 0
    assert db.session.query(OutboxMessage).count() == 0
    assert "Martillo-azul" not in page  # passwords are never sent back


def test_bad_sign_up_over_htmx_is_the_form_fragment(client, hx):
    response = client.post("/cuenta/crear", data=sign_up_data(rfc="FEL951332K21"), headers=hx)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in page and 'id="auth-register"' in page
    assert "HX-Request" in response.headers["Vary"]
    assert _error_of(page, "rfc") == "La fecha del RFC (AAMMDD) no es una fecha válida."


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
@pytest.mark.parametrize("token", [None, "token-inventado"], ids=["sin-token", "token-falso"])
def test_sign_up_without_a_valid_csrf_token_is_refused(client, token):
    data = sign_up_data()
    if token:
        data["csrf_token"] = token
    response = client.post("/cuenta/crear", data=data)
    assert response.status_code == 400
    assert "La sesión del formulario expiró o no es válida" in response.get_data(as_text=True)
    assert db.session.query(User).count() == 0


def test_sign_up_is_rate_limited_per_address(client, mailbox):
    for _ in range(3):
        assert client.post("/cuenta/crear", data=sign_up_data()).status_code == 303
    response = client.post("/cuenta/crear", data=sign_up_data())
    assert response.status_code == 429
    assert re.search(r"Demasiados intentos\. Inténtalo de nuevo en \d+ minutos?\.", response.get_data(as_text=True))
    assert len(mailbox()) == 3  # one welcome, then two "ya tienes una cuenta": no flood


def test_an_address_registration_accepts_can_sign_in(client, mailbox):
    """One e-mail rule for both forms: a .test domain (refused by the sign-in form before) included."""
    client.post("/cuenta/crear", data=sign_up_data(email="ana@empresa.test"))
    link = link_in(mail_to(mailbox(), "ana@empresa.test"), "/cuenta/verificar/")
    client.post(link)
    response = client.post("/cuenta/ingresar", data={"email": "Ana@Empresa.test", "password": sign_up_data()["password"]})
    assert response.status_code == 303


def test_terms_and_distributor_access_pages(client):
    assert "Términos y condiciones de uso" in client.get("/cuenta/terminos").get_data(as_text=True)
    page = client.get("/cuenta/crear").get_data(as_text=True)
    assert all(label in page for label in ("Razón social", "RFC", "Nombre de contacto", "Teléfono",
                                           "Correo electrónico", "Contraseña", "Confirma la contraseña",
                                           "Acepto los términos y condiciones de uso"))
    response = client.get("/cuenta/distribuidores")
    assert response.status_code == 301 and response.headers["Location"] == "/cuenta/ingresar"
    sign_in = client.get("/cuenta/ingresar").get_data(as_text=True)
    assert "Acceso a Distribuidores" in sign_in and "Crear cuenta" in sign_in and "¿Olvidaste tu contraseña?" in sign_in


# --- verification -----------------------------------------------------------------------------

def test_the_verification_page_needs_a_session(client):
    response = client.get("/cuenta/verificar")
    assert response.status_code == 302 and "/cuenta/ingresar" in response.headers["Location"]


def test_resending_the_verification_email_works_and_is_rate_limited(client, hx, login, mailbox):
    user = factories.user(verified=False)
    login(user)
    response = client.post("/cuenta/verificar")
    assert response.status_code == 303
    assert "Te enviamos un nuevo enlace de verificación" in client.get("/cuenta/verificar").get_data(as_text=True)
    fragment = client.post("/cuenta/verificar", headers=hx)
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    assert "Te enviamos un nuevo enlace" in fragment.get_data(as_text=True)
    client.post("/cuenta/verificar")
    refused = client.post("/cuenta/verificar", headers=hx)
    assert refused.status_code == 429
    assert "Demasiados intentos. Inténtalo de nuevo en" in refused.get_data(as_text=True)
    messages = mailbox()
    assert len(messages) == 3 and all(m["message"]["Subject"] == "Verifica tu correo electrónico" for m in messages)
    # Any of the links verifies; the others then are spent.
    links = [link_in(m["message"], "/cuenta/verificar/") for m in messages]
    assert client.post(links[1]).status_code == 303
    assert client.post(links[0]).status_code == 400


def test_a_verified_user_is_told_so_and_gets_no_email(client, world, login, mailbox):
    login(world.a.user)
    client.post("/cuenta/verificar")
    assert "ya está verificado" in client.get("/cuenta/verificar").get_data(as_text=True)
    assert mailbox() == []


def test_a_verification_link_from_another_purpose_or_forged_is_refused(client, world):
    reset = tokens.issue(tokens.RESET_PASSWORD, world.a.user)
    for token in (reset, "forjado.abc.def", reset[:-2] + "xx"):
        response = client.get(f"/cuenta/verificar/{token}")
        assert response.status_code == 400
        assert "El enlace no es válido" in response.get_data(as_text=True)


# --- sign-in ----------------------------------------------------------------------------------

def test_failed_sign_ins_are_audited_under_the_account_without_the_password(client, world):
    _sign_in(client, world.a.user.email, "adivinanza-1")
    _sign_in(client, "nadie@ninguna.mx", "adivinanza-2")
    known, unknown = db.session.query(AuditEvent).filter_by(event="sign_in_failed").order_by(AuditEvent.id).all()
    assert (known.user_id, known.actor) == (world.a.user.id, world.a.user.email)
    assert (unknown.user_id, unknown.actor) == (None, "nadie@ninguna.mx")
    assert "adivinanza" not in str([(e.actor, e.detail) for e in (known, unknown)])


def test_five_failures_lock_the_account_for_a_while_even_with_the_right_password(client, world, hx):
    for _ in range(5):
        assert _sign_in(client, world.a.user.email, "adivinanza-1").status_code == 422
    locked = _sign_in(client, world.a.user.email, factories.PASSWORD)
    assert locked.status_code == 429
    assert "Demasiados intentos. Inténtalo de nuevo en 15 minutos." in locked.get_data(as_text=True)
    assert 840 <= int(locked.headers["Retry-After"]) <= 900
    fragment = _sign_in(client, world.a.user.email, factories.PASSWORD, headers=hx)
    assert fragment.status_code == 429 and "<html" not in fragment.get_data(as_text=True)
    assert "Demasiados intentos" in fragment.get_data(as_text=True)
    assert client.get("/perfil").status_code == 302  # not signed in
    # Another account from the same address is not locked by it.
    assert _sign_in(client, world.b.user.email, factories.PASSWORD).status_code == 303


def test_a_successful_sign_in_forgives_earlier_failures(client, world):
    for _ in range(4):
        _sign_in(client, world.a.user.email, "adivinanza-1")
    assert _sign_in(client, world.a.user.email, factories.PASSWORD).status_code == 303
    client.post("/cuenta/salir")
    for _ in range(4):
        _sign_in(client, world.a.user.email, "adivinanza-1")
    assert _sign_in(client, world.a.user.email, factories.PASSWORD).status_code == 303


def test_twenty_failures_from_one_address_lock_that_address(client, world):
    attacker = {"REMOTE_ADDR": "203.0.113.9"}
    for n in range(20):
        _sign_in(client, f"victima{n}@empresa.mx", "adivinanza-1", environ_base=attacker)
    assert _sign_in(client, world.a.user.email, factories.PASSWORD, environ_base=attacker).status_code == 429
    assert _sign_in(client, world.a.user.email, factories.PASSWORD,
                    environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 303


@pytest.mark.app_config(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
def test_sign_in_fails_closed_when_the_limits_storage_is_down(client, world):
    response = _sign_in(client, world.a.user.email, factories.PASSWORD)
    assert response.status_code == 429
    assert "No podemos procesar tu solicitud en este momento" in response.get_data(as_text=True)
    assert client.get("/perfil").status_code == 302


@pytest.mark.multiprocess
@pytest.mark.app_config(RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX="cuentas-" + uuid.uuid4().hex)
def test_two_processes_sharing_redis_count_failures_together(app, client, world, tmp_path, redis_url):
    email, ip = world.a.user.email, "192.0.2.44"
    second = {key: app.config[key] for key in ("SQLALCHEMY_DATABASE_URI", "RATELIMIT_STORAGE_URI",
                                                "RATELIMIT_KEY_PREFIX", "PASSWORD_HASH_METHOD")}
    second.update(SECRET_KEY="otro-proceso", TESTING=True, WTF_CSRF_ENABLED=False, MAIL_SERVER="",
                  INSTANCE_PATH=str(tmp_path / "segundo"))

    def here(password):
        return _sign_in(client, email, password, environ_base={"REMOTE_ADDR": ip}).status_code

    assert [here("adivinanza-1") for _ in range(2)] == [422, 422]
    assert sign_in_from_another_process(second, email, "adivinanza-2", 2, ip) == [422, 422]
    assert here("adivinanza-3") == 422  # the fifth failure, counted across both processes
    assert sign_in_from_another_process(second, email, factories.PASSWORD, 1, ip) == [429]
    assert here(factories.PASSWORD) == 429


def test_session_cookies_are_httponly_and_samesite(client, world):
    response = _sign_in(client, world.a.user.email, factories.PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


@pytest.mark.app_config(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
def test_session_cookies_are_secure_when_configured_for_https(client, world):
    response = _sign_in(client, world.a.user.email, factories.PASSWORD, base_url="https://localhost")
    assert "Secure" in response.headers["Set-Cookie"]


@pytest.mark.app_config(TRUSTED_HOSTS=["portal.example"], PORTAL_URL="http://portal.example")
def test_a_forged_host_cannot_put_its_name_in_a_reset_link(client, world, mailbox):
    forged = client.post("/cuenta/recuperar", data={"email": world.a.user.email}, base_url="http://malo.example")
    assert forged.status_code == 400 and mailbox() == []
    client.post("/cuenta/recuperar", data={"email": world.a.user.email}, base_url="http://portal.example")
    assert "http://portal.example/cuenta/restablecer/" in body_of(mail_to(mailbox(), world.a.user.email))


@pytest.mark.app_config(PORTAL_URL="https://intranet.example.mx/portal")
def test_reset_link_uses_portal_url_whatever_host_the_request_names(client, world, mailbox):
    """Without TRUSTED_HOSTS too (development): the link is PORTAL_URL's, prefix included."""
    client.post("/cuenta/recuperar", data={"email": world.a.user.email}, headers={"Host": "evil.example"})
    body = body_of(mail_to(mailbox(), world.a.user.email))
    assert "https://intranet.example.mx/portal/cuenta/restablecer/" in body and "evil.example" not in body


# --- password reset ---------------------------------------------------------------------------

def test_forgot_password_answers_the_same_whether_or_not_the_email_exists(client, world, mailbox):
    known = client.post("/cuenta/recuperar", data={"email": world.a.user.email})
    unknown = client.post("/cuenta/recuperar", data={"email": "nadie@ninguna.mx"})
    assert (known.status_code, known.headers["Location"]) == (unknown.status_code, unknown.headers["Location"])
    assert known.headers["Location"] == "/cuenta/recuperar/enviado"
    page = client.get("/cuenta/recuperar/enviado").get_data(as_text=True)
    assert "Si el correo corresponde a una cuenta, te enviamos un enlace" in page
    [message] = mailbox()
    assert message["to"] == [world.a.user.email]
    assert message["message"]["Subject"] == "Restablece tu contraseña"
    assert "vence en 60 minutos" in body_of(message["message"])


def test_forgot_password_limits_are_the_same_for_known_and_unknown_addresses(client, world):
    for email in (world.a.user.email, "nadie@ninguna.mx"):
        statuses = [client.post("/cuenta/recuperar", data={"email": email}).status_code for _ in range(4)]
        assert statuses == [303, 303, 303, 429]


def test_bad_forgot_password_input(client):
    for email, message in (("", "Captura tu correo electrónico."), ("ana@", "Captura un correo electrónico válido."),
                           ("a" * 10_240, "El correo es demasiado largo.")):
        response = client.post("/cuenta/recuperar", data={"email": email})
        assert response.status_code == 422 and _error_of(response.get_data(as_text=True), "email") == message


def test_reset_password_from_the_email_ends_every_session(app, client, world, mailbox, login):
    user = world.a.user
    elsewhere = app.test_client()
    login(user, target=elsewhere)
    assert elsewhere.get("/perfil").status_code == 200

    client.post("/cuenta/recuperar", data={"email": user.email})
    link = link_in(mail_to(mailbox(), user.email), "/cuenta/restablecer/")
    form = client.get(link)
    assert form.status_code == 200 and "Restablecer contraseña" in form.get_data(as_text=True)

    weak = client.post(link, data={"password": "12345678", "password_confirm": "12345678"})
    assert weak.status_code == 422
    assert _error_of(weak.get_data(as_text=True), "password") == "Esa contraseña es demasiado común y fácil de adivinar. Elige otra."
    differ = client.post(link, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD + "x"})
    assert _error_of(differ.get_data(as_text=True), "password_confirm") == "Las contraseñas no coinciden."

    done = client.post(link, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["Location"] == "/cuenta/ingresar"
    assert "Tu contraseña se cambió. Inicia sesión con la nueva." in client.get("/cuenta/ingresar").get_data(as_text=True)
    notice = mail_to(mailbox(), user.email)
    assert notice["Subject"] == "Tu contraseña cambió"

    assert elsewhere.get("/perfil").status_code == 302  # the other session ended
    assert _sign_in(client, user.email, factories.PASSWORD).status_code == 422
    assert _sign_in(client, user.email, NEW_PASSWORD).status_code == 303

    again = client.get(link)
    assert again.status_code == 400 and "Este enlace ya se usó" in again.get_data(as_text=True)
    reuse = client.post(link, data={"password": "Otra-clave-nueva-7", "password_confirm": "Otra-clave-nueva-7"})
    assert reuse.status_code == 400
    assert _sign_in(app.test_client(), user.email, NEW_PASSWORD).status_code == 303
    events = [e.event for e in db.session.query(AuditEvent).filter_by(user_id=user.id)]
    assert "password_reset_requested" in events and "password_reset" in events


def test_an_expired_reset_link_is_refused_and_changes_nothing(client, world):
    token = tokens.issue(tokens.RESET_PASSWORD, world.a.user, at=clock.timestamp() - 3700)
    response = client.get(f"/cuenta/restablecer/{token}")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "El enlace expiró. Solicita uno nuevo." in page and "Solicitar un nuevo enlace" in page
    post = client.post(f"/cuenta/restablecer/{token}", data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert post.status_code == 400
    assert _sign_in(client, world.a.user.email, factories.PASSWORD).status_code == 303


def test_forged_and_other_purpose_reset_links_are_refused(client, world):
    verify = tokens.issue(tokens.VERIFY_EMAIL, world.a.user)
    change = tokens.issue(tokens.CHANGE_EMAIL, world.a.user, email="x@y.mx")
    for token in (verify, change, "eyJ1IjoxfQ.forjado.firma", "x" * 3000):
        response = client.post(f"/cuenta/restablecer/{token}", data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
        assert response.status_code == 400 and "El enlace no es válido" in response.get_data(as_text=True)
    assert _sign_in(client, world.a.user.email, factories.PASSWORD).status_code == 303


def test_no_password_or_token_is_kept_in_audit_or_pending_mail_records(client, world, mailbox):
    client.post("/cuenta/crear", data=sign_up_data())
    _sign_in(client, world.a.user.email, "adivinanza-secreta")
    client.post("/cuenta/recuperar", data={"email": world.a.user.email})
    [message] = [m for m in mailbox() if m["to"] == [world.a.user.email]]
    token = link_in(message["message"], "/cuenta/restablecer/").rsplit("/", 1)[1]
    audit = str([(e.event, e.actor, e.detail) for e in db.session.query(AuditEvent)])
    for secret in ("Martillo-azul-2026", "adivinanza-secreta", token):
        assert secret not in audit
    # Delivered messages no longer keep their bodies (and so their links).
    assert all(m.body_text == "" for m in db.session.query(OutboxMessage).filter_by(status="enviado"))
