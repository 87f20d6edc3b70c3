"""Mi perfil through HTTP: Datos generales, e-mail change from the new address, password change,
Actividad; a second account never sees or touches the first one's."""
import re
from datetime import datetime, timedelta, timezone

import pytest

from portal import clock
from portal.auth import tokens
from portal.extensions import db
from portal.models import AuditEvent, User
from tests import factories
from tests.accounts_helpers import mailbox  # noqa: F401 (fixture)
from tests.accounts_helpers import NEW_PASSWORD, link_in, mail_to
from tests.conftest import body_of


def _error_of(page, field):
    match = re.search(rf'id="{field}-error">([^<]*)<', page)
    return match.group(1) if match else None


def _reload(user):
    db.session.rollback()
    return db.session.get(User, user.id)


def _sign_in(client, email, password):
    return client.post("/cuenta/ingresar", data={"email": email, "password": password})


def _email_change(client, new_email, password=factories.PASSWORD, **kwargs):
    return client.post("/perfil/correo", data={"email-new_email": new_email, "email-current_password": password}, **kwargs)


def _password_change(client, current, new, confirm=None, **kwargs):
    return client.post("/perfil/contrasena", data={"password-current_password": current, "password-new_password": new,
                                                   "password-new_password_confirm": confirm or new}, **kwargs)


# --- the page ---------------------------------------------------------------------------------

def test_profile_needs_a_session(client):
    for path in ("/perfil", "/perfil/actividad"):
        response = client.get(path)
        assert response.status_code == 302 and "/cuenta/ingresar" in response.headers["Location"]
    assert client.post("/perfil/datos", data={"details-name": "X"}).status_code == 302


def test_profile_shows_only_the_signed_in_users_data(client, world, login):
    login(world.b.user)
    page = client.get("/perfil").get_data(as_text=True)
    assert "Mi perfil &gt; Datos generales" in page
    for label in ("Datos generales", "Correo electrónico", "Contraseña", "Actividad", "Nuevo correo electrónico",
                  "Contraseña actual", "Nueva contraseña"):
        assert label in page
    assert world.b.user.email in page and world.a.user.email not in page
    assert "Verificado" in page


def test_a_second_account_only_ever_changes_itself(client, world, login, mailbox):
    login(world.b.user)
    client.post("/perfil/datos", data={"details-name": "Cuenta B", "details-phone": "5512345678"})
    # Without its own current password not even b's password changes.
    stolen = client.post("/perfil/contrasena", data={"password-current_password": factories.PASSWORD + "-a",
                                                     "password-new_password": NEW_PASSWORD,
                                                     "password-new_password_confirm": NEW_PASSWORD})
    assert stolen.status_code == 422
    a, b = _reload(world.a.user), _reload(world.b.user)
    assert (a.name, a.email) == ("Usuaria de Prueba", world.a.user.email) and b.name == "Cuenta B"
    assert world.a.user.email not in client.get("/perfil/actividad").get_data(as_text=True)
    assert mailbox() == []


# --- name and phone ---------------------------------------------------------------------------

def test_details_change_without_js_redirects_with_a_confirmation(client, world, login):
    login(world.a.user)
    response = client.post("/perfil/datos", data={"details-name": "  María   José Núñez ", "details-phone": "+52 33 1234 5678"})
    assert response.status_code == 303 and response.headers["Location"] == "/perfil"
    page = client.get("/perfil").get_data(as_text=True)
    assert "Tus datos generales se guardaron." in page and 'value="María José Núñez"' in page
    user = _reload(world.a.user)
    assert (user.name, user.phone) == ("María José Núñez", "+52 33 1234 5678")
    assert db.session.query(AuditEvent).filter_by(event="profile_updated", user_id=user.id).count() == 1


def test_details_change_over_htmx_swaps_the_section(client, world, login, hx):
    login(world.a.user)
    response = client.post("/perfil/datos", data={"details-name": "Jorge Ruiz", "details-phone": "5512345678"}, headers=hx)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in page and 'id="profile-details"' in page
    assert "Tus datos generales se guardaron." in page and 'value="Jorge Ruiz"' in page
    # The top bar's name follows in the same answer (the account as this request left it).
    assert '<span id="user-menu-name" hx-swap-oob="true">Jorge Ruiz</span>' in page
    assert "HX-Request" in response.headers["Vary"]
    full = client.get("/perfil")
    assert "<html" in full.get_data(as_text=True) and "HX-Request" in full.headers["Vary"]


@pytest.mark.parametrize("name, phone, field, message", [
    ("Ana\u200b López", "5512345678", "details-name", "El nombre contiene caracteres de control o invisibles."),
    ("Аna López", "5512345678", "details-name", "El nombre solo admite letras del alfabeto latino, números y signos comunes."),
    ("A" * 10_240, "5512345678", "details-name", "El nombre admite como máximo 120 caracteres."),
    ("Ana López", "55 12", "details-phone", "El teléfono debe tener al menos 10 dígitos (lada incluida)."),
    ("Ana López", "5" * 10_240, "details-phone", "Captura un teléfono válido: solo números, espacios y los signos + ( ) -."),
], ids=["invisible", "cirilico", "10kB-nombre", "telefono-corto", "10kB-telefono"])
def test_bad_details_are_refused_and_change_nothing(client, world, login, hx, name, phone, field, message):
    login(world.a.user)
    for headers in ({}, hx):
        response = client.post("/perfil/datos", data={"details-name": name, "details-phone": phone}, headers=headers)
        assert response.status_code == 422
        assert _error_of(response.get_data(as_text=True), field) == message
    user = _reload(world.a.user)
    assert (user.name, user.phone) == ("Usuaria de Prueba", "55 1234 5678")


# --- e-mail change ----------------------------------------------------------------------------

def test_email_change_is_confirmed_from_the_new_address_and_the_old_one_is_told(app, client, world, login, mailbox):
    user = world.a.user
    old = user.email
    login(user)
    response = _email_change(client, "Nuevo.Correo@Empresa-Nueva.mx")
    assert response.status_code == 303
    page = client.get("/perfil").get_data(as_text=True)
    assert "Te enviamos un enlace a nuevo.correo@empresa-nueva.mx" in page
    assert _reload(user).email == old  # nothing changes until the link is opened

    message = mail_to(mailbox(), "nuevo.correo@empresa-nueva.mx")
    assert message["Subject"] == "Confirma tu nuevo correo electrónico"
    assert "vence en 24 horas" in body_of(message) and "Confirmar mi nuevo correo" in body_of(message, "html")
    link = link_in(message, "/perfil/correo/confirmar/")

    # Opening the link (or a mail scanner fetching it) shows a button; only the POST changes.
    confirm = client.get(link)
    assert confirm.status_code == 200 and "Confirmar cambio de correo" in confirm.get_data(as_text=True)
    assert _reload(user).email == old
    done = client.post(link)
    assert done.status_code == 303 and done.headers["Location"] == "/perfil"
    assert "Listo: el correo de tu cuenta ahora es nuevo.correo@empresa-nueva.mx." in client.get("/perfil").get_data(as_text=True)
    changed = _reload(user)
    assert changed.email == "nuevo.correo@empresa-nueva.mx" and changed.email_verified

    told = mail_to(mailbox(), old)
    assert told["Subject"] == "El correo de tu cuenta cambió"
    assert "n•••@empresa-nueva.mx" in body_of(told)

    assert client.post(link).status_code == 400  # single use
    assert "Este enlace ya se usó" in client.get(link).get_data(as_text=True)
    other = app.test_client()
    assert _sign_in(other, old, factories.PASSWORD).status_code == 422
    assert _sign_in(other, "nuevo.correo@empresa-nueva.mx", factories.PASSWORD).status_code == 303
    activity = client.get("/perfil/actividad").get_data(as_text=True)
    assert "Correo cambiado" in activity and "Solicitud de cambio de correo" in activity


def test_email_change_over_htmx_answers_in_the_section(client, world, login, hx, mailbox):
    login(world.a.user)
    response = _email_change(client, "otro@empresa.mx", headers=hx)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in page and 'id="profile-email"' in page
    assert "Te enviamos un enlace a otro@empresa.mx" in page
    assert len(mailbox()) == 1


def test_email_change_to_an_address_with_an_account_answers_the_same_and_changes_nothing(client, world, login, mailbox):
    login(world.a.user)
    taken = _email_change(client, world.b.user.email.upper())
    assert taken.status_code == 303
    page = client.get("/perfil").get_data(as_text=True)
    assert f"Te enviamos un enlace a {world.b.user.email}" in page
    message = mail_to(mailbox(), world.b.user.email)
    assert message["Subject"] == "Solicitud para usar tu correo en otra cuenta"
    assert "/perfil/correo/confirmar/" not in body_of(message)
    assert _reload(world.a.user).email != world.b.user.email


@pytest.mark.parametrize("new_email, password, field, message", [
    ("nuevo@empresa.mx", "no-es-la-mia", "email-current_password", "La contraseña actual no es correcta."),
    ("nuevo@empresa.mx", "", "email-current_password", "Captura tu contraseña actual."),
    ("nuevo@", factories.PASSWORD, "email-new_email", "Captura un correo electrónico válido."),
    ("n" * 10_240 + "@x.mx", factories.PASSWORD, "email-new_email", "El correo es demasiado largo."),
], ids=["contrasena-incorrecta", "sin-contrasena", "correo-mal-formado", "10kB"])
def test_bad_email_change_requests_send_nothing(client, world, login, mailbox, new_email, password, field, message):
    login(world.a.user)
    response = _email_change(client, new_email, password)
    assert response.status_code == 422
    assert _error_of(response.get_data(as_text=True), field) == message
    assert mailbox() == []


def test_the_current_address_is_not_a_change(client, world, login):
    login(world.a.user)
    response = _email_change(client, world.a.user.email)
    assert _error_of(response.get_data(as_text=True), "email-new_email") == "Ese ya es el correo de tu cuenta."


def test_guessing_the_current_password_in_mi_perfil_is_limited(client, world, login):
    login(world.a.user)
    for _ in range(5):
        assert _email_change(client, "nuevo@empresa.mx", "adivinanza").status_code == 422
    locked = _password_change(client, factories.PASSWORD, NEW_PASSWORD)
    assert locked.status_code == 429
    assert "Demasiados intentos. Inténtalo de nuevo en 15 minutos." in locked.get_data(as_text=True)


def test_another_account_cannot_use_someone_elses_email_change_link(client, world, login):
    token = tokens.issue(tokens.CHANGE_EMAIL, world.a.user, email="robado@empresa.mx")
    login(world.b.user)
    for response in (client.get(f"/perfil/correo/confirmar/{token}"), client.post(f"/perfil/correo/confirmar/{token}")):
        assert response.status_code == 403
        assert "Este enlace es de otra cuenta" in response.get_data(as_text=True)
    assert _reload(world.a.user).email != "robado@empresa.mx"
    assert _reload(world.b.user).email != "robado@empresa.mx"


def test_expired_forged_and_other_purpose_email_change_links_are_refused(client, world):
    expired = tokens.issue(tokens.CHANGE_EMAIL, world.a.user, email="nuevo@empresa.mx", at=clock.timestamp() - 25 * 3600)
    reset = tokens.issue(tokens.RESET_PASSWORD, world.a.user)
    for token, message in ((expired, "El enlace expiró"), (reset, "El enlace no es válido"), ("abc.def.ghi", "El enlace no es válido")):
        response = client.post(f"/perfil/correo/confirmar/{token}")
        assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert _reload(world.a.user).email != "nuevo@empresa.mx"


def test_a_confirmation_for_an_address_taken_meanwhile_is_a_conflict(client, world):
    token = tokens.issue(tokens.CHANGE_EMAIL, world.a.user, email="disputado@empresa.mx")
    factories.user(email="disputado@empresa.mx")
    response = client.post(f"/perfil/correo/confirmar/{token}")
    assert response.status_code == 409
    assert "Ese correo ya pertenece a otra cuenta; el cambio no se hizo." in response.get_data(as_text=True)


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_profile_changes_need_the_csrf_token(client, world):
    page = client.get("/cuenta/ingresar").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/cuenta/ingresar", data={"email": world.a.user.email, "password": factories.PASSWORD, "csrf_token": token})
    for path, data in (("/perfil/datos", {"details-name": "Otro", "details-phone": "5512345678"}),
                       ("/perfil/correo", {"email-new_email": "x@y.mx", "email-current_password": factories.PASSWORD}),
                       ("/perfil/contrasena", {"password-current_password": factories.PASSWORD,
                                               "password-new_password": NEW_PASSWORD,
                                               "password-new_password_confirm": NEW_PASSWORD})):
        for bad in ({}, {"details-csrf_token": "falso", "email-csrf_token": "falso", "password-csrf_token": "falso"}):
            response = client.post(path, data={**data, **bad})
            assert response.status_code == 400
            assert "La sesión del formulario expiró" in response.get_data(as_text=True)
    user = _reload(world.a.user)
    assert user.name == "Usuaria de Prueba" and user.email == world.a.user.email


# --- password change --------------------------------------------------------------------------

def test_password_change_keeps_this_session_and_ends_the_others(app, client, world, login, mailbox):
    user = world.a.user
    login(user)
    elsewhere = app.test_client()
    remembered = app.test_client()
    login(user, target=elsewhere)
    remembered.post("/cuenta/ingresar", data={"email": user.email, "password": factories.PASSWORD, "remember": "y"})
    cookie = remembered.get_cookie("remember_token")
    # A browser that comes back with only the remember-me cookie (its session cookie expired).
    returning = app.test_client()
    returning.set_cookie("remember_token", cookie.value)
    assert returning.get("/perfil").status_code == 200
    reset_link = tokens.issue(tokens.RESET_PASSWORD, user)

    response = _password_change(client, factories.PASSWORD, NEW_PASSWORD)
    assert response.status_code == 303
    assert "Tu contraseña se cambió. Cerramos tu sesión en los demás equipos." in client.get("/perfil").get_data(as_text=True)

    comeback = app.test_client()
    comeback.set_cookie("remember_token", cookie.value)
    assert client.get("/perfil").status_code == 200           # this session goes on
    assert elsewhere.get("/perfil").status_code == 302        # the others ended
    assert comeback.get("/perfil").status_code == 302         # old remember-me cookies too
    assert client.get(f"/cuenta/restablecer/{reset_link}").status_code == 400  # earlier reset links die
    assert _sign_in(app.test_client(), user.email, factories.PASSWORD).status_code == 422
    assert _sign_in(app.test_client(), user.email, NEW_PASSWORD).status_code == 303
    notice = mail_to(mailbox(), user.email)
    assert notice["Subject"] == "Tu contraseña cambió" and "Si no fuiste tú" in body_of(notice)
    assert db.session.query(AuditEvent).filter_by(event="password_changed", user_id=user.id).count() == 1


def test_password_change_over_htmx_answers_in_the_section(client, world, login, hx):
    login(world.a.user)
    response = _password_change(client, factories.PASSWORD, NEW_PASSWORD, headers=hx)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in page and 'id="profile-password"' in page
    assert "Tu contraseña se cambió." in page and NEW_PASSWORD not in page
    assert client.get("/perfil").status_code == 200


@pytest.mark.parametrize("current, new, confirm, field, message", [
    ("no-es-la-mia", NEW_PASSWORD, None, "password-current_password", "La contraseña actual no es correcta."),
    (factories.PASSWORD, "corta", None, "password-new_password", "La contraseña debe tener al menos 8 caracteres."),
    (factories.PASSWORD, "qwerty123", None, "password-new_password",
     "Esa contraseña es demasiado común y fácil de adivinar. Elige otra."),
    (factories.PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!", "password-new_password_confirm", "Las contraseñas no coinciden."),
    (factories.PASSWORD, "y" * 10_240, None, "password-new_password", "La contraseña admite como máximo 128 caracteres."),
], ids=["actual-incorrecta", "corta", "comun", "distintas", "10kB"])
def test_bad_password_changes_change_nothing(app, client, world, login, current, new, confirm, field, message):
    login(world.a.user)
    token_before = _reload(world.a.user).session_token
    response = _password_change(client, current, new, confirm)
    assert response.status_code == 422
    assert _error_of(response.get_data(as_text=True), field) == message
    assert _reload(world.a.user).session_token == token_before
    assert _sign_in(app.test_client(), world.a.user.email, factories.PASSWORD).status_code == 303


# --- Actividad --------------------------------------------------------------------------------

def test_activity_lists_the_users_own_account_events_newest_first(app, client, world, login):
    a, b = world.a.user, world.b.user
    app.test_client().post("/cuenta/ingresar", data={"email": a.email, "password": "adivinanza"},
                           environ_base={"REMOTE_ADDR": "203.0.113.50"})
    app.test_client().post("/cuenta/ingresar", data={"email": b.email, "password": "adivinanza"},
                           environ_base={"REMOTE_ADDR": "198.51.100.99"})
    login(b)
    login(a)
    response = client.get("/perfil/actividad")
    page = response.get_data(as_text=True)
    assert "Mi perfil &gt; Actividad" in page
    rows = re.findall(r"<tr><td[^>]*>([^<]*)</td><td[^>]*>([^<]*)</td>", page)
    assert [label for _, label in rows] == ["Inicio de sesión", "Intento fallido de inicio de sesión"]
    assert "203.0.113.50" in page
    assert "198.51.100.99" not in page and b.email not in page and "adivinanza" not in page

    fragment = client.get("/perfil/actividad", headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True) and 'id="grid-actividad"' in fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]


def test_activity_pages_by_fifty(client, world, login):
    user = world.a.user
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    db.session.add_all([AuditEvent(event="sign_in", user_id=user.id, ip=f"10.0.0.{n}", at=start + timedelta(minutes=n))
                        for n in range(1, 56)])
    db.session.commit()
    login(user)
    first = client.get("/perfil/actividad").get_data(as_text=True)
    # One header row and the rows: 50 on a page; the pager goes forward from the first, back from the last.
    assert first.count("<tr>") == 1 + 50 and 'rel="next"' in first and 'rel="prev"' not in first
    second = client.get("/perfil/actividad?page=2").get_data(as_text=True)
    assert second.count("<tr>") == 1 + 6 and 'rel="prev"' in second and 'rel="next"' not in second
    assert "10.0.0.1<" in second and "10.0.0.55<" not in second
    for bad in ("abc", "0", "-1", "99999999"):
        response = client.get(f"/perfil/actividad?page={bad}")
        assert response.status_code == 400 and "La página solicitada no es válida." in response.get_data(as_text=True)


def test_a_user_without_events_sees_an_empty_activity(client, world, login):
    login(world.b.user)
    db.session.query(AuditEvent).delete()
    db.session.commit()
    assert "Aún no hay movimientos en tu cuenta." in client.get("/perfil/actividad").get_data(as_text=True)
