"""Sessions and tokens: a copied cookie dies with its session; links are single-purpose and single-use.

Sessions are server-side rows (portal/auth/sessions.py): sign-out deletes this browser's, a password
or e-mail change every one of the account's. A cookie copied before — the session cookie or the
remember-me cookie — is then as good as none.
"""
import time
from datetime import timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from portal import clock
from portal.auth import sessions, tokens
from portal.extensions import db
from portal.models import UserSession
from tests import factories
from tests.abuse_helpers import record_figure
from tests.accounts_helpers import NEW_PASSWORD, link_in, mail_to
from tests.accounts_helpers import mailbox  # noqa: F401 (fixture)

pytestmark = pytest.mark.abuse  # the fault and abuse suite (docs/TESTING.md)

PAGE = "/perfil"


def _copy(app, source, names=("session", "remember_token")):
    """A second browser holding copies of `source`'s cookies (what a thief would replay)."""
    thief = app.test_client()
    for name in names:
        cookie = source.get_cookie(name)
        if cookie is not None:
            thief.set_cookie(name, cookie.value)
    return thief


def _only_remember_cookie(app, source):
    return _copy(app, source, names=("remember_token",))


def _signed_in(response):
    return response.status_code == 200


def _sign_in(client, user, password=factories.PASSWORD, remember=False):
    data = {"email": user.email, "password": password}
    if remember:
        data["remember"] = "y"
    response = client.post("/cuenta/ingresar", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return response


def _sessions_of(user):
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id))


def test_a_session_copied_before_sign_out_is_dead_after_it(app, client, world):
    _sign_in(client, world.a.user, remember=True)
    cookie_copy, remember_copy = _copy(app, client), _only_remember_cookie(app, client)
    assert _signed_in(cookie_copy.get(PAGE)) and _signed_in(remember_copy.get(PAGE))

    assert client.post("/cuenta/salir").status_code == 303
    replayed = [cookie_copy.get(PAGE), _copy(app, cookie_copy).get(PAGE), remember_copy.get(PAGE)]
    refused = sum(r.status_code == 302 and "/cuenta/ingresar" in r.headers["Location"] for r in replayed)
    record_figure("sesiones: cookies copiadas antes de cerrar sesión y rechazadas después", f"{refused}/{len(replayed)}",
                  "3/3")
    assert refused == len(replayed)
    assert _sessions_of(world.a.user) == 0


def test_signing_out_one_browser_leaves_the_others(app, client, world):
    other = app.test_client()
    _sign_in(client, world.a.user)
    _sign_in(other, world.a.user)
    client.post("/cuenta/salir")
    assert _signed_in(other.get(PAGE))
    assert _sessions_of(world.a.user) == 1


def test_a_password_change_kills_every_copied_cookie_but_this_browsers_new_session(app, client, world):
    _sign_in(client, world.a.user, remember=True)
    before = _copy(app, client)
    remember_before = _only_remember_cookie(app, client)
    response = client.post("/perfil/contrasena", data={
        "password-current_password": factories.PASSWORD, "password-new_password": NEW_PASSWORD,
        "password-new_password_confirm": NEW_PASSWORD})
    assert response.status_code == 303
    assert _signed_in(client.get(PAGE))
    # This browser got a new session (and a new remember-me cookie): the copies name the old one.
    assert client.get_cookie("session").value != before.get_cookie("session").value
    assert client.get_cookie("remember_token").value != remember_before.get_cookie("remember_token").value
    refused = [r.status_code for r in (before.get(PAGE), remember_before.get(PAGE))]
    record_figure("sesiones: cookies copiadas antes de un cambio de contraseña y rechazadas", f"{refused.count(302)}/2",
                  "2/2")
    assert refused == [302, 302]
    assert _signed_in(_only_remember_cookie(app, client).get(PAGE))  # the new remember-me cookie works
    assert _sessions_of(world.a.user) == 1


def test_an_email_change_kills_every_copied_cookie(app, client, world, mailbox):
    user = world.a.user
    _sign_in(client, user, remember=True)
    elsewhere = app.test_client()
    _sign_in(elsewhere, user)
    before, remember_before = _copy(app, client), _only_remember_cookie(app, client)
    client.post("/perfil/correo", data={"email-new_email": "nueva.direccion@empresa.mx",
                                        "email-current_password": factories.PASSWORD})
    link = link_in(mail_to(mailbox(), "nueva.direccion@empresa.mx"), "/perfil/correo/confirmar/")
    assert _signed_in(before.get(PAGE))  # nothing changes until the link is used
    assert client.post(link).status_code == 303

    assert _signed_in(client.get(PAGE))
    statuses = [r.status_code for r in (before.get(PAGE), remember_before.get(PAGE), elsewhere.get(PAGE))]
    record_figure("sesiones: cookies previas a un cambio de correo rechazadas", f"{statuses.count(302)}/3", "3/3")
    assert statuses == [302, 302, 302]


def test_an_email_change_confirmed_signed_out_ends_every_session(app, client, world, mailbox):
    user = world.a.user
    signed_in = app.test_client()
    _sign_in(signed_in, user)
    link = "/perfil/correo/confirmar/" + tokens.issue(tokens.CHANGE_EMAIL, user, email="otra@empresa.mx")
    assert client.post(link).status_code == 303  # opened from the mailbox, in a browser signed out
    assert signed_in.get(PAGE).status_code == 302
    assert _sessions_of(user) == 0


def test_a_password_reset_ends_every_session(app, client, world, mailbox):
    user = world.a.user
    signed_in = app.test_client()
    _sign_in(signed_in, user, remember=True)
    remember = _only_remember_cookie(app, signed_in)
    link = "/cuenta/restablecer/" + tokens.issue(tokens.RESET_PASSWORD, user)
    assert client.post(link, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}).status_code == 303
    assert signed_in.get(PAGE).status_code == 302 and remember.get(PAGE).status_code == 302


def test_the_session_id_changes_at_every_sign_in(app, client, world):
    planted = app.test_client()
    planted.get("/cuenta/ingresar")
    with planted.session_transaction() as session:
        session["planted"] = "por un atacante"
    victim = _copy(app, planted)  # the victim's browser got the attacker's cookie (session fixation)
    ids = []
    for _ in range(3):
        _sign_in(victim, world.a.user)
        with victim.session_transaction() as session:
            ids.append(session["_user_id"])
            assert "planted" not in session
        victim.post("/cuenta/salir")
    record_figure("sesiones: identificadores distintos en 3 inicios de sesión", len(set(ids)), 3)
    assert len(set(ids)) == 3
    assert planted.get(PAGE).status_code == 302  # the attacker's own cookie never became a session


def test_a_forged_or_stale_session_id_opens_nothing(app, world):
    user = world.a.user
    serializer = app.session_interface.get_signing_serializer(app)
    forged = [f"{user.id}:{user.session_token}:adivinado", f"{user.id}:{user.session_token}", f"{user.id}", "x:y:z",
              f"{world.b.user.id}:{user.session_token}:" + "A" * 43]
    signed_in = sessions.start(user)
    db.session.commit()
    real = signed_in.get_id()
    other_user = real.replace(f"{user.id}:", f"{world.b.user.id}:", 1)  # a real secret under another account
    opened = 0
    for user_id in forged + [other_user]:
        browser = app.test_client()
        browser.set_cookie("session", serializer.dumps({"_user_id": user_id, "_fresh": True}))
        opened += browser.get(PAGE).status_code == 200
    assert opened == 0
    browser = app.test_client()
    browser.set_cookie("session", serializer.dumps({"_user_id": real, "_fresh": True}))
    assert browser.get(PAGE).status_code == 200


@pytest.mark.app_config(SESSION_DAYS=3)
def test_a_session_unused_for_session_days_is_over(app, client, world):
    _sign_in(client, world.a.user, remember=True)
    db.session.execute(update(UserSession).values(last_seen_at=clock.now() - timedelta(days=3, minutes=1)))
    db.session.commit()
    assert client.get(PAGE).status_code == 302
    assert _only_remember_cookie(app, client).get(PAGE).status_code == 302


@pytest.mark.app_config(SESSION_IDLE_MINUTES=30)
def test_a_session_not_remembered_is_over_after_session_idle_minutes(app, client, world):
    remembered = app.test_client()
    _sign_in(client, world.a.user)
    _sign_in(remembered, world.b.user, remember=True)
    db.session.execute(update(UserSession).values(last_seen_at=clock.now() - timedelta(minutes=31)))
    db.session.commit()
    assert client.get(PAGE).status_code == 302
    assert remembered.get(PAGE).status_code == 200  # "Mantener la sesión iniciada": SESSION_DAYS
    # The session cookie of a remembered session, copied without its remember cookie: the short rule.
    db.session.execute(update(UserSession).values(last_seen_at=clock.now() - timedelta(minutes=31)))
    db.session.commit()
    assert _copy(app, remembered, names=("session",)).get(PAGE).status_code == 302


@pytest.mark.app_config(SESSION_MAX_DAYS=2)
def test_no_session_outlives_session_max_days_however_used(app, client, world):
    _sign_in(client, world.a.user, remember=True)
    db.session.execute(update(UserSession).values(created_at=clock.now() - timedelta(days=2, minutes=1)))
    db.session.commit()
    assert client.get(PAGE).status_code == 302
    assert _only_remember_cookie(app, client).get(PAGE).status_code == 302


def test_a_visit_is_recorded_at_most_once_a_minute(client, world):
    _sign_in(client, world.a.user)
    long_ago = clock.now() - timedelta(minutes=5)
    db.session.execute(update(UserSession).values(last_seen_at=long_ago))
    db.session.commit()
    client.get(PAGE)
    db.session.rollback()
    seen = db.session.scalar(select(UserSession.last_seen_at))
    assert _aware(seen) > long_ago + timedelta(minutes=4)
    client.get(PAGE)
    db.session.rollback()
    assert db.session.scalar(select(UserSession.last_seen_at)) == seen  # the second visit wrote nothing


def _aware(moment):
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@pytest.mark.parametrize("secure", [False, True])
def test_the_remember_me_cookie_is_httponly_samesite_secure_as_configured_and_lasts_session_days(app, client, world,
                                                                                                 secure):
    app.config.update(REMEMBER_COOKIE_SECURE=secure, SESSION_COOKIE_SECURE=secure)
    response = client.post("/cuenta/ingresar", data={"email": world.a.user.email, "password": factories.PASSWORD,
                                                      "remember": "y"})
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_token=")]
    flags = [part.strip().split("=")[0].lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite" in flags and "SameSite=Lax" in cookie
    assert ("secure" in flags) is secure
    lasts = client.get_cookie("remember_token").expires.timestamp() - time.time()
    record_figure(f"sesiones: cookie «recordarme» (Secure={secure})",
                  f"HttpOnly, SameSite=Lax, {'Secure, ' if secure else ''}{lasts / 86400:.1f} días", "14 días")
    assert abs(lasts - 14 * 86400) < 120


def test_without_remember_me_there_is_no_remember_cookie(client, world):
    response = client.post("/cuenta/ingresar", data={"email": world.a.user.email, "password": factories.PASSWORD})
    assert not any(c.startswith("remember_token=") for c in response.headers.getlist("Set-Cookie"))


# --- links: expired, reused, another purpose ------------------------------------------------------

def _links(user):
    """Every kind of e-mailed link for `user`: (purpose, path prefix, form data for its POST)."""
    reset = {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    # Verification first, while the address is unverified (a reset link verifies it too).
    return [
        (tokens.VERIFY_EMAIL, "/cuenta/verificar/", {}),
        (tokens.RESET_PASSWORD, "/cuenta/restablecer/", reset),
        (tokens.CHANGE_EMAIL, "/perfil/correo/confirmar/", {}),
    ]


def _use(client, path, data):
    return client.get(path) if data is None else client.post(path, data=data)


def test_expired_reused_and_other_purpose_links_are_refused(app, client, world):
    user = world.a.user
    user.email_verified_at = None
    db.session.commit()
    accepted = []  # (purpose, what) of every bad link that was not refused
    total = 0
    for purpose, prefix, data in _links(user):
        extra = {"email": "cambio@empresa.mx"} if purpose == tokens.CHANGE_EMAIL else {}
        expired = tokens.issue(purpose, user, at=clock.timestamp() - tokens.MAX_AGE[purpose] - 60, **extra)
        others = [(f"de {other}", tokens.issue(other, user, email="cambio@empresa.mx")) for other in tokens.SALTS
                  if other != purpose]
        for what, token in [("caducado", expired), *others]:
            total += 1
            if _use(client, prefix + token, data).status_code != 400:
                accepted.append((purpose, what))
        fresh = tokens.issue(purpose, user, **extra)
        first = _use(app.test_client(), prefix + fresh, data)
        assert first.status_code == 303, (purpose, first.get_data(as_text=True)[:300])
        total += 1
        if _use(app.test_client(), prefix + fresh, data).status_code != 400:
            accepted.append((purpose, "reutilizado"))
    record_figure("enlaces caducados, reutilizados o de otro propósito rechazados", f"{total - len(accepted)}/{total}",
                  f"{total}/{total}")
    # each link: expired, every other purpose, and reused
    assert accepted == [] and total == len(list(_links(user))) * (len(tokens.SALTS) + 1)
