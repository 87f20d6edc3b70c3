"""Reenviar CDA through HTTP, with a real SMTP server: the modal, the no-JS path, limits, scoping, secrecy."""
import logging
import re

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, OutboxMessage
from tests import factories
from tests.conftest import body_of

SENT = "El CDA del número de serie {} ha sido enviado a tu cuenta de correo."
SPAM = "Revisa en tu bandeja de entrada o en la sección de <strong>correos no deseados / spam</strong>."
PROFILE = ("La información será enviada a la cuenta de correo que diste de alta. Si deseas actualizarla "
           'dirígete a la sección de <a href="/perfil">Mi perfil &gt; Datos generales</a>.')
PHYSICAL = "Consulta el CDA en tu Certificado de Autenticidad"


def url(serial):
    return f"/servicios/{serial}/reenviar-cda"


def text_of(html):
    """What a reader sees: tags dropped, spaces folded."""
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def masked(user):
    return user.email[0] + "•••@" + user.email.split("@")[1]


def queued():
    return db.session.scalar(select(func.count()).select_from(OutboxMessage))


@pytest.fixture
def deliver_now(deliver):
    """Deliver the outbox; the test's own session first lets go of SQLite's write lock."""

    def _deliver():
        db.session.rollback()
        return deliver()

    return _deliver


@pytest.fixture
def systems(world):
    """Desk A: an electronic subscription, an electronic license, a physical license; desk B: one system."""
    class Systems:
        subscription = factories.service(world.a.desk, "suscripciones", product_code="SAE", version="9.0")
        license = factories.service(world.a.desk, "licenciamiento", product_code="NOI", version="11.0")
        physical = factories.service(world.a.desk, "licenciamiento", product_code="COI", acquisition="fisica")
        theirs = factories.service(world.b.desk, "suscripciones", product_code="SAE")
    return Systems


# --- the e-mail ------------------------------------------------------------------------------

def test_the_cda_reaches_the_accounts_address_and_nothing_else_does(client, world, systems, login, hx, deliver_now):
    login(world.a.user)
    response = client.post(url(systems.license.serial), headers=hx)
    assert response.status_code == 200

    received = deliver_now()
    assert len(received) == 1
    mail = received[0]
    assert mail["to"] == [world.a.user.email]
    assert mail["message"]["Subject"] == f"Código de Activación (CDA) de Aspel NOI — No. Serie {systems.license.serial}"
    for part in (body_of(mail["message"]), body_of(mail["message"], "html")):
        for fact in ("Aspel NOI", "11.0", systems.license.serial, systems.license.cda):
            assert fact in part
    for other in (systems.subscription, systems.physical, systems.theirs):
        assert other.cda not in mail["raw"]
    stored = db.session.scalar(select(OutboxMessage))
    assert stored.status == "enviado" and stored.body_text == "" and stored.body_html is None
    assert deliver_now() == []


def test_the_send_is_audited_with_who_where_and_which_serial_but_not_the_cda(client, world, systems, login, hx):
    login(world.a.user)
    client.post(url(systems.subscription.serial), headers=hx, environ_base={"REMOTE_ADDR": "198.51.100.20"})
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "cda_resent"))
    assert (event.user_id, event.desk_id, event.ip) == (world.a.user.id, world.a.desk.id, "198.51.100.20")
    assert event.detail["serial"] == systems.subscription.serial
    assert systems.subscription.cda not in repr(event.detail)


# --- fragment, page, no-JS -------------------------------------------------------------------

def test_htmx_gets_the_aspel_notifica_modal_fragment(client, world, systems, login, hx):
    login(world.a.user)
    serial = systems.subscription.serial
    response = client.post(url(serial), headers=hx)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and "HX-Request" in response.headers["Vary"]
    assert '<dialog class="modal" id="cda-notice" data-modal aria-labelledby="cda-notice-title"' in html
    assert f'data-return-focus="cda-btn-{serial}"' in html
    assert " open" not in html.split(">", 1)[0]  # portal.js opens it modally
    assert '<h2 id="cda-notice-title">Aspel notifica</h2>' in html
    assert SENT.format(serial) in text_of(html)
    assert masked(world.a.user) in html and world.a.user.email not in html
    assert SPAM in html and PROFILE in html
    assert ">Aceptar</button>" in html
    assert "En cola" in html


@pytest.mark.app_config(BRAND_NAME="Contpaq")
def test_the_modal_title_is_the_configured_brand(client, world, systems, login, hx):
    login(world.a.user)
    html = client.post(url(systems.subscription.serial), headers=hx).get_data(as_text=True)
    assert '<h2 id="cda-notice-title">Contpaq notifica</h2>' in html


def test_without_js_the_post_redirects_to_the_same_grid_page_and_shows_the_notice(client, world, systems, login):
    login(world.a.user)
    serial = systems.license.serial
    grid = "/servicios/licenciamiento?q=NOI&sort=-serie&page=1"
    response = client.post(url(serial), data={"next": grid})
    assert response.status_code == 303
    # The same grid state, at an address that names this send: never the very URL the browser is
    # on (elinks does not fetch a 303 to the page it shows, and the notice would never appear).
    first_id = db.session.scalars(select(OutboxMessage.id)).one()
    assert response.headers["Location"] == f"{grid}&aviso={first_id}"
    assert queued() == 1

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<html" in page
    notice = page[page.index('<dialog class="modal" id="cda-notice"'):page.index("</dialog>")]
    assert "open" in notice.split(">", 1)[0]  # shown in the page, no script needed
    assert "Aspel notifica" in notice and SENT.format(serial) in text_of(notice)
    assert masked(world.a.user) in notice and SPAM in notice and PROFILE in notice
    assert page.index("cda-notice") < page.index("<table")  # above the grid, where it is seen
    # Shown once: a reload does not repeat it.
    assert "cda-notice" not in client.get(response.headers["Location"]).get_data(as_text=True)
    # Sent again from that page: a new address again, the notice shown there.
    again = client.post(url(serial), data={"next": response.headers["Location"]})
    assert again.headers["Location"].startswith(grid + "&aviso=")
    assert again.headers["Location"] != response.headers["Location"]
    assert "cda-notice" in client.get(again.headers["Location"]).get_data(as_text=True)


def test_without_js_a_next_outside_the_portal_returns_to_the_systems_own_list(client, world, systems, login):
    login(world.a.user)
    targets = ("https://elsewhere.example/", "//elsewhere.example/x", "", "javascript:alert(1)")
    for system, target in zip([systems.license, systems.subscription] * 2, targets):
        response = client.post(url(system.serial), data={"next": target})
        assert response.headers["Location"].split("?")[0] == f"/servicios/{system.category}", target


def test_each_electronic_row_has_the_labelled_button_and_a_physical_row_says_where_the_cda_is(
        client, world, systems, login):
    factories.service(world.a.desk, "licenciamiento", serial=None)  # not yet numbered: no button, no error
    login(world.a.user)
    response = client.get("/servicios/licenciamiento?per_page=50")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.count('class="icon-button"') == 1
    serial = systems.license.serial
    assert (f'<button type="submit" class="icon-button" id="cda-btn-{serial}" title="Reenviar CDA" '
            f'aria-label="Reenviar CDA del número de serie {serial}">') in page
    assert f'hx-post="/servicios/{serial}/reenviar-cda" hx-target="#modal-slot" hx-swap="innerHTML"' in page
    assert '<input type="hidden" name="next" value="/servicios/licenciamiento?per_page=50">' in page
    assert f'href="/servicios/{serial}/envios-cda"' in page
    assert f"cda-btn-{systems.physical.serial}" not in page
    assert PHYSICAL in page
    sub = client.get("/servicios/suscripciones").get_data(as_text=True)
    assert f'id="cda-btn-{systems.subscription.serial}"' in sub


def test_the_button_needs_its_csrf_token(app, client, world, systems, login):
    login(world.a.user)
    app.config["WTF_CSRF_ENABLED"] = True  # after signing in: the test client shares one `g` across requests
    refused = client.post(url(systems.license.serial), data={"next": "/servicios/licenciamiento"})
    assert refused.status_code == 400 and queued() == 0
    page = client.get("/servicios/licenciamiento").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    sent = client.post(url(systems.license.serial), data={"csrf_token": token, "next": "/servicios/licenciamiento"})
    assert sent.status_code == 303, sent.get_data(as_text=True)[-1500:]
    assert queued() == 1


# --- refusals --------------------------------------------------------------------------------

def test_a_physical_system_is_refused_clearly_and_nothing_is_queued(client, world, systems, login, hx):
    login(world.a.user)
    serial = systems.physical.serial
    fragment = client.post(url(serial), headers=hx)
    assert fragment.status_code == 409
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and "Aspel notifica" in html and PHYSICAL in html

    page = client.post(url(serial), data={"next": "/servicios/licenciamiento?q=COI"})
    assert page.status_code == 409
    html = page.get_data(as_text=True)
    assert "<html" in html and PHYSICAL in html
    assert '<a class="button primary" href="/servicios/licenciamiento?q=COI">Aceptar</a>' in html
    assert queued() == 0


def test_an_unverified_address_gets_the_reason_and_the_way_to_verify(client, world, systems, login, hx):
    user = factories.user(world.a.desk, verified=False)
    login(user)
    response = client.post(url(systems.license.serial), headers=hx)
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "tu cuenta de correo aún no está verificada" in html
    assert '<a href="/cuenta/verificar">Verifica tu correo electrónico</a>' in html
    assert queued() == 0


def test_three_resends_per_system_then_a_429_saying_when(client, world, systems, login, hx):
    login(world.a.user)
    serial = systems.subscription.serial
    for _ in range(3):
        assert client.post(url(serial), headers=hx).status_code == 200
    refused = client.post(url(serial), headers=hx)
    assert refused.status_code == 429
    html = text_of(refused.get_data(as_text=True))
    assert f"Ya solicitaste varias veces el CDA del número de serie {serial}." in html
    minutes = int(re.search(r"Podrás solicitarlo de nuevo en (\d+) minutos\.", html).group(1))
    assert 55 <= minutes <= 60
    assert 3300 <= int(refused.headers["Retry-After"]) <= 3600
    # The last send is shown, so "it was sent" can be told from "it is stuck".
    assert f"a {masked(world.a.user)} · En cola" in html
    assert queued() == 3
    # Without JS: the same message on a page.
    page = client.post(url(serial), data={"next": "/servicios/suscripciones"})
    assert page.status_code == 429 and "<html" in page.get_data(as_text=True)
    assert "Podrás solicitarlo de nuevo en" in page.get_data(as_text=True)
    # Another system is not held back.
    assert client.post(url(systems.license.serial), headers=hx).status_code == 200


def test_twenty_resends_per_desk_per_day(client, world, login, hx):
    many = [factories.service(world.a.desk) for _ in range(7)]
    login(world.a.user)
    for n in range(20):
        assert client.post(url(many[n // 3].serial), headers=hx).status_code == 200
    refused = client.post(url(many[6].serial), headers=hx)
    assert refused.status_code == 429
    html = text_of(refused.get_data(as_text=True))
    assert "Este escritorio alcanzó el límite de envíos de CDA por hoy." in html
    assert re.search(r"Podrás solicitarlo de nuevo en 14[34]\d minutos\.", html)
    assert queued() == 20


# --- scoping ---------------------------------------------------------------------------------

def test_another_desks_unknown_or_non_system_serial_is_a_404_and_nothing_is_queued(client, world, systems, login, hx):
    space = factories.service(world.a.desk, "espacio", serial="ESP000000077", cda="CDA-NO-ES-SISTEMA",
                              acquisition=None)
    login(world.b.user)
    for serial in (systems.subscription.serial, systems.license.serial, "NO-EXISTE"):
        for headers in ({}, hx):
            assert client.post(url(serial), headers=headers).status_code == 404
        assert client.get(f"/servicios/{serial}/envios-cda").status_code == 404
    login(world.a.user)
    assert client.post(url(space.serial)).status_code == 404
    assert client.get(f"/servicios/{space.serial}/envios-cda").status_code == 404
    assert queued() == 0
    page = client.get("/servicios/suscripciones").get_data(as_text=True)
    assert systems.theirs.serial not in page


def test_get_is_not_allowed_and_queues_nothing(client, world, systems, login):
    login(world.a.user)
    assert client.get(url(systems.license.serial)).status_code == 405
    assert queued() == 0


def test_signed_out_posts_are_sent_to_sign_in(client, systems):
    response = client.post(url(systems.license.serial))
    assert response.status_code == 302 and "/cuenta/ingresar" in response.headers["Location"]
    assert queued() == 0


# --- Envíos de CDA ---------------------------------------------------------------------------

def test_envios_de_cda_shows_when_where_and_whether_it_left(app, client, world, systems, login, hx, deliver_now):
    login(world.a.user)
    serial = systems.license.serial
    client.post(url(serial), headers=hx)
    deliver_now()
    # The mail server goes away: the next one fails for good (one attempt allowed here).
    app.config["OUTBOX_MAX_ATTEMPTS"] = 1
    app.extensions["mail"].port = 1  # nothing listens there: connection refused
    client.post(url(serial), headers=hx)
    deliver_now()
    client.post(url(serial), headers=hx)  # still queued

    page = client.get(f"/servicios/{serial}/envios-cda")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html and "HX-Request" in page.headers["Vary"]
    assert "<h1>Envíos de CDA</h1>" in html and f"No. Serie <strong>{serial}</strong>" in html
    rows = re.findall(r"<tr><td>.*?</tr>", html)
    assert len(rows) == 3
    statuses = [re.search(r'cda-status-\w+">([^<]+)<', row).group(1) for row in rows]
    assert statuses == ["En cola", "Error", "Enviado"]  # newest first
    assert all(masked(world.a.user) in row for row in rows)
    assert world.a.user.email not in html and systems.license.cda not in html
    assert re.search(r"<td>\d\d/\d\d/\d{4} \d\d:\d\d</td></tr>", rows[2])  # when the server accepted it

    fragment = client.get(f"/servicios/{serial}/envios-cda", headers=hx)
    assert "<html" not in fragment.get_data(as_text=True) and "HX-Request" in fragment.headers["Vary"]
    assert 'id="cda-history"' in fragment.get_data(as_text=True)


def test_envios_de_cda_before_any_send_and_for_a_physical_system(client, world, systems, login):
    login(world.a.user)
    assert "Aún no se ha enviado el CDA de este sistema." in client.get(
        f"/servicios/{systems.subscription.serial}/envios-cda").get_data(as_text=True)
    assert PHYSICAL in client.get(f"/servicios/{systems.physical.serial}/envios-cda").get_data(as_text=True)


# --- secrecy ---------------------------------------------------------------------------------

def test_the_cda_never_appears_in_a_response_a_url_or_a_log_line(app, client, world, systems, login, hx,
                                                                  deliver_now, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # even with SQL logging on
    try:
        login(world.a.user)
        responses = [client.get("/servicios/suscripciones"), client.get("/servicios/licenciamiento")]
        for system in (systems.subscription, systems.license, systems.physical):
            responses.append(client.post(url(system.serial), headers=hx))
            responses.append(client.post(url(system.serial), data={"next": "/servicios/licenciamiento"}))
            responses.append(client.get("/servicios/licenciamiento"))  # the notice after the redirect
            responses.append(client.get(f"/servicios/{system.serial}/envios-cda"))
        for _ in range(2):
            responses.append(client.post(url(systems.license.serial), headers=hx))  # the 429
        deliver_now()
        login(world.b.user)
        responses.append(client.post(url(systems.license.serial), headers=hx))  # the 404
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)

    assert {r.status_code for r in responses} >= {200, 303, 404, 409, 429}
    secrets = [systems.subscription.cda, systems.license.cda, systems.physical.cda]
    for response in responses:
        seen = response.get_data(as_text=True) + str(response.headers)
        for cda in secrets:
            assert cda not in seen, response.request.path
    # The receiving mail server's own log ("mail.log", the test's aiosmtpd) reads the message it is
    # handed; every record the portal and its libraries wrote must be free of the CDA.
    portal_records = [r for r in caplog.records if r.name != "mail.log"]
    assert any(r.name.startswith("sqlalchemy.engine") for r in portal_records)
    for record in portal_records:
        for cda in secrets:
            assert cda not in record.getMessage(), record.name
    events = db.session.scalars(select(AuditEvent)).all()
    assert events and not any(cda in repr(e.detail) + str(e.actor) for e in events for cda in secrets)
