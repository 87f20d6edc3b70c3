"""Alerts through HTTP and Chromium: Notificaciones, the unsubscribe link (JS off), badges, the
stamp forecast and banner, and Actividad on the grid — each scoped to the account and its desk."""
import re
from datetime import timedelta

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal.clock import today as local_today
from portal.extensions import db
from portal.models import AlertPreference, AuditEvent
from tests import factories
from tests.alerts_helpers import alert_mails, run, stamps


def text_of(html):
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _kinds(html):
    """The Movimiento of each row of the Actividad grid."""
    return re.findall(r"<tr><td[^>]*>[^<]*</td><td[^>]*>([^<]*)</td>", html)


def _today(app):
    return local_today(app.config["TIMEZONE"])


def _saved(user, desk):
    db.session.rollback()  # see what the requests (or the live server) committed
    return db.session.scalar(select(AlertPreference).where(AlertPreference.user_id == user.id,
                                                           AlertPreference.desk_id == desk.id))


FORM = {"payments": "y", "validity": "y", "expiring_keys": "y", "low_stamps": "y", "threshold": "1,500"}


# --- Mi perfil > Notificaciones ---------------------------------------------------------------

def test_notificaciones_is_in_the_profile_nav_with_every_alert_on_by_default(client, world, login):
    login(world.a.user)
    page = client.get("/perfil/notificaciones").get_data(as_text=True)
    assert '<a href="/perfil/notificaciones" aria-current="page">Notificaciones</a>' in page
    assert "Mi perfil &gt; Notificaciones" in page and f"Avisos por correo de {world.a.desk.razon_social}" in page
    assert page.count('checked') == 4  # a distributor desk also offers the expiring keys
    assert '<a href="/perfil/notificaciones">Notificaciones</a>' in client.get("/perfil").get_data(as_text=True)


def test_without_js_saving_redirects_with_a_notice_and_keeps_the_choice_per_desk(client, world, login):
    a = world.a
    login(a.user)
    response = client.post("/perfil/notificaciones", data={**FORM, "payments": ""})
    assert response.status_code == 303 and response.headers["Location"].endswith("/perfil/notificaciones")
    page = client.get("/perfil/notificaciones").get_data(as_text=True)
    assert f"Tus avisos de {a.desk.razon_social} se guardaron." in page and 'value="1500"' in page
    saved = _saved(a.user, a.desk)
    assert (saved.payments, saved.validity, saved.stamp_threshold) == (False, True, 1500)
    assert _saved(world.b.user, world.b.desk) is None  # the other account's desk is untouched
    assert db.session.scalar(select(AuditEvent.event).where(AuditEvent.user_id == a.user.id,
                                                            AuditEvent.event == "alert_preferences_changed"))


def test_htmx_saving_swaps_the_form_and_bad_input_changes_nothing(client, world, login, hx):
    login(world.a.user)
    ok = client.post("/perfil/notificaciones", data=FORM, headers=hx)
    body = ok.get_data(as_text=True)
    assert ok.status_code == 200 and "<html" not in body and 'id="profile-notifications"' in body
    assert "se guardaron" in body and "HX-Request" in ok.headers["Vary"]
    for bad in ("-5", "mil", "99999999999"):
        refused = client.post("/perfil/notificaciones", data={**FORM, "threshold": bad}, headers=hx)
        assert refused.status_code == 422
        assert "Captura un número entero de timbres, de 0 a 10,000,000." in refused.get_data(as_text=True)
    assert _saved(world.a.user, world.a.desk).stamp_threshold == 1500
    blank = client.post("/perfil/notificaciones", data={**FORM, "threshold": ""})
    assert blank.status_code == 303 and _saved(world.a.user, world.a.desk).stamp_threshold is None


def test_a_user_without_a_desk_cannot_open_notificaciones(client, login):
    lonely = factories.user()
    login(lonely)
    assert client.get("/perfil/notificaciones").status_code == 403
    assert client.post("/perfil/notificaciones", data=FORM).status_code == 403


# --- the unsubscribe link ------------------------------------------------------------------------

def _unsubscribe_link(mail):
    line = next(line for line in mail.body_text.splitlines() if line.startswith("Para dejar de recibir"))
    # The link starts with PORTAL_URL (never the request's host): its path is what a browser opens here.
    return urlsplit(line.split(": ", 1)[1]).path


def test_the_unsubscribe_page_changes_nothing_until_its_button_is_pressed(app, client, world):
    factories.service(world.a.desk, next_payment_on=_today(app) + timedelta(days=1))
    run(_today(app))
    link = _unsubscribe_link(alert_mails()[0])
    page = client.get(link)
    assert page.status_code == 200
    assert "¿Quieres dejar de recibir los avisos de próximo pago de tus suscripciones" in text_of(page.get_data(as_text=True))
    assert _saved(world.a.user, world.a.desk) is None
    done = client.post(link)
    assert "Listo: ya no recibirás los avisos de próximo pago" in done.get_data(as_text=True)
    saved = _saved(world.a.user, world.a.desk)
    assert (saved.payments, saved.validity) == (False, True)
    factories.service(world.a.desk, next_payment_on=_today(app) + timedelta(days=1))
    run(_today(app))
    assert len(alert_mails()) == 1  # no new payment mail for that user


def test_a_tampered_unsubscribe_link_is_refused_in_spanish(client):
    response = client.get("/perfil/notificaciones/baja/abc.def")
    assert response.status_code == 400
    assert "El enlace para dejar de recibir avisos no es válido." in response.get_data(as_text=True)
    assert client.post("/perfil/notificaciones/baja/abc.def").status_code == 400


@pytest.mark.browser
def test_unsubscribe_works_with_javascript_off(app, live_server, browser_page, world):
    factories.service(world.a.desk, next_payment_on=_today(app) + timedelta(days=1))
    run(_today(app))
    page = browser_page(js=False)
    page.goto(live_server.url(_unsubscribe_link(alert_mails()[0])))
    page.get_by_role("button", name="Dejar de recibir estos avisos").click()  # a real POST, with its CSRF token
    assert "Listo: ya no recibirás los avisos de próximo pago" in page.content()
    assert _saved(world.a.user, world.a.desk).payments is False


# --- badges, forecast, banner -------------------------------------------------------------------

def test_rows_due_within_a_week_carry_a_badge(app, client, world, login):
    today = _today(app)
    factories.service(world.a.desk, next_payment_on=today + timedelta(days=3))
    factories.service(world.a.desk, next_payment_on=today + timedelta(days=1))
    factories.service(world.a.desk, next_payment_on=today + timedelta(days=20))
    factories.service(world.a.desk, category="polizas", name="Póliza COI", valid_until=today, serial=None,
                      next_payment_on=None)
    login(world.a.user)
    subscriptions = client.get("/servicios/suscripciones").get_data(as_text=True)
    assert subscriptions.count('class="badge badge-due"') == 2
    assert f"{today + timedelta(days=3):%d/%m/%Y} <span class=\"badge badge-due\">Vence en 3 días</span>" in subscriptions
    assert "Vence mañana" in subscriptions
    assert "Vence hoy" in client.get("/servicios/polizas").get_data(as_text=True)
    csv = client.get("/servicios/suscripciones?formato=csv").get_data(as_text=True)
    assert "Vence" not in csv  # the export keeps plain dates
    login(world.b.user)
    assert "badge-due" not in client.get("/servicios/suscripciones").get_data(as_text=True)


def test_sellado_cfdi_shows_the_forecast_and_comprar_ahora(app, client, world, login):
    today = _today(app)
    stamps(world.a.desk, "credito", 1000, today - timedelta(days=45))
    stamps(world.a.desk, "consumo", 600, today - timedelta(days=3))  # 20 a day: 400 last 20 days
    login(world.a.user)
    page = text_of(client.get("/servicios/sellado-cfdi").get_data(as_text=True))
    assert "A tu ritmo actual tus timbres alcanzan para unos 20 días. Comprar ahora" in page
    login(world.b.user)
    assert "No usaste timbres en los últimos 30 días." in text_of(client.get("/servicios/sellado-cfdi").get_data(as_text=True))


def test_the_layout_banner_shows_while_the_balance_is_under_the_threshold(app, client, world, login, hx):
    today = _today(app)
    stamps(world.a.desk, "credito", 100, today)
    login(world.a.user)
    client.post("/perfil/notificaciones", data={**FORM, "threshold": "150"})
    page = client.get("/claves-prepago").get_data(as_text=True)
    assert 'id="alerts-low-stamps"' in page
    assert "Tu saldo de timbres (100) está por debajo de tu mínimo de 150." in text_of(page)
    assert 'id="alerts-low-stamps"' not in client.get("/claves-prepago", headers=hx).get_data(as_text=True)
    stamps(world.a.desk, "credito", 100, today)
    assert 'id="alerts-low-stamps"' not in client.get("/claves-prepago").get_data(as_text=True)
    login(world.b.user)
    assert 'id="alerts-low-stamps"' not in client.get("/servicios/suscripciones").get_data(as_text=True)


# --- Actividad --------------------------------------------------------------------------------------

@pytest.fixture
def events(world):
    """Events of every area for a, and one of b's that a must never see."""
    a, b = world.a, world.b
    rows = [
        ("cda_resent", a, {"serial": "SAE000000123", "recipient": "u•••@empresa.mx", "service_id": 7}),
        ("prepaid_key_validated", a, {"key": "••••-••••-••••-K7QZ"}),
        ("prepaid_key_confirmed", a, {"key": "••••-••••-••••-K7QZ", "destination": "distribuidor", "key_id": 9}),
        ("password_changed", a, {}),
        ("two_factor_enabled", a, {}),
        ("sign_in", b, {}),
    ]
    for event, party, detail in rows:
        db.session.add(AuditEvent(event=event, user_id=party.user.id, desk_id=party.desk.id, ip="192.0.2.7",
                                  detail=detail))
    db.session.commit()


def test_actividad_lists_every_event_of_the_account_in_spanish(client, world, login, events):
    login(world.a.user)
    page = text_of(client.get("/perfil/actividad").get_data(as_text=True))
    for shown in ("Reenvío de CDA No. Serie SAE000000123 · enviado a u•••@empresa.mx",
                  "Clave de prepago validada Clave ••••-••••-••••-K7QZ",
                  "Clave de prepago confirmada Clave ••••-••••-••••-K7QZ · Destino: Distribuidor",
                  "Contraseña cambiada", "Verificación en dos pasos activada", "Inicio de sesión"):
        assert shown in page
    assert "key_id" not in page and "service_id" not in page


def test_actividad_filters_by_kind_and_dates_and_exports_csv(app, client, world, login, events):
    login(world.a.user)
    today = _today(app)
    assert _kinds(client.get("/perfil/actividad?tipo=cda_resent").get_data(as_text=True)) == ["Reenvío de CDA"]
    bad = client.get("/perfil/actividad?tipo=borrar_todo")
    assert bad.status_code == 200 and "«borrar_todo» no es un valor válido de Movimiento" in bad.get_data(as_text=True)
    past = client.get(f"/perfil/actividad?hasta={today - timedelta(days=1)}").get_data(as_text=True)
    assert _kinds(past) == []
    same_day = client.get(f"/perfil/actividad?desde={today}&hasta={today}").get_data(as_text=True)
    assert "Reenvío de CDA" in _kinds(same_day) and len(_kinds(same_day)) == 6  # "hasta" takes the whole day
    csv = client.get("/perfil/actividad?formato=csv&tipo=prepaid_key_confirmed&tipo=cda_resent").get_data(as_text=True)
    lines = csv.lstrip("\ufeff").strip().splitlines()
    assert lines[0] == "Fecha,Movimiento,Detalle,Dirección IP"
    assert sorted(line.split(",")[1] for line in lines[1:]) == ["Clave de prepago confirmada", "Reenvío de CDA"]
    assert "192.0.2.7" in csv and world.b.user.email not in csv


def test_actividad_never_shows_another_accounts_events_nor_a_secret(client, world, login, events):
    system = factories.service(world.a.desk, "licenciamiento")
    login(world.a.user)
    client.post(f"/servicios/{system.serial}/reenviar-cda")
    login(world.b.user)
    page = client.get("/perfil/actividad").get_data(as_text=True)
    assert "Reenvío de CDA" not in _kinds(page) and "SAE000000123" not in page
    login(world.a.user)
    mine = client.get("/perfil/actividad").get_data(as_text=True)
    csv = client.get("/perfil/actividad?formato=csv").get_data(as_text=True)
    assert f"No. Serie {system.serial}" in text_of(mine)
    for text in (mine, csv):
        assert system.cda not in text and world.a.user.email not in text.split("Reenvío")[-1]
