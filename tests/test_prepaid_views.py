"""The activation steps over HTTP: pages and fragments, every bad input, limits, e-mail, other desks."""
import re
import secrets
from datetime import date, timedelta

import pytest
from flask import g
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, OutboxMessage, PrepaidKey
from portal import clock, key_codes
from portal.prepaid.forms import MAX_KEYS_PER_REQUEST
from portal.prepaid.steps import SALT, make_step_token
from portal.signing import timed_serializer
from tests import factories
from tests.conftest import body_of
from tests.prepaid_helpers import confirm, step_token, validate

ACTIVATE = "/claves-prepago/activar"
STEP_TWO = ACTIVATE + "/confirmar"


def _text(response):
    return response.get_data(as_text=True)


def _fresh(key):
    return db.session.scalar(select(PrepaidKey).where(PrepaidKey.id == key.id).execution_options(populate_existing=True))


def _outbox_count():
    return db.session.scalar(select(func.count()).select_from(OutboxMessage))


# --- pages and fragments -----------------------------------------------------------------------

@pytest.mark.parametrize("path", [ACTIVATE, "/claves-prepago/licencia", "/claves-prepago/activar/aviso?claves=1"])
def test_pages_need_a_signed_in_user(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/cuenta/ingresar" in response.headers["Location"]


def test_posts_need_a_signed_in_user(client):
    assert client.post(ACTIVATE, data={"keys": key_codes.generate()}).status_code == 302
    assert client.post(ACTIVATE + "/confirmar", data={"token": "x"}).status_code == 302


def test_step_one_is_a_page_and_for_htmx_one_panel(client, world, login, hx):
    login(world.a.user)
    page = client.get(ACTIVATE)
    fragment = client.get(ACTIVATE, headers=hx)
    for response in (page, fragment):
        assert response.status_code == 200
        assert "HX-Request" in response.headers["Vary"]
        body = _text(response)
        assert 'id="prepaid-panel"' in body and "Clave Prepago" in body and ">Validar<" in body
    assert "<html" in _text(page) and "Activar claves de producto prepago</h1>" in _text(page)
    assert "<html" not in _text(fragment)


def test_step_two_shows_the_confirmation_panel_of_figure_3(client, world, login, hx):
    key = factories.prepaid_key()
    login(world.a.user)
    for headers in ({}, hx):
        response = validate(client, " " + key_codes.grouped(key.code).lower().replace("-", " ") + " ", headers, follow=True)
        assert response.status_code == 200
        body = _text(response)
        for text in ("Solicitar Clave de Confirmación", "Mi Negocio", "Distribuidor",
                     f'Clave <strong class="key-code">{key_codes.grouped(key.code)}</strong> válida (incluye 50 Timbres)',
                     world.a.desk.razon_social, "Acepto la Licencia de Uso.", "Ver Licencia", ">Confirmar<",
                     "Activar otra Clave"):
            assert text in body, text
        assert ("<html" in body) is (headers == {})
    assert _fresh(key).status == "nueva"


def _code_with(*digits):
    """A valid code holding each of `digits` at least twice."""
    while True:
        code = key_codes.generate()
        if all(code.count(digit) >= 2 for digit in digits):
            return code


@pytest.mark.parametrize("typed_as, said", [
    ({"0": "o"}, "Leímos la O como cero."),
    ({"1": "I"}, "Leímos la I como uno."),
    ({"0": "O", "1": "l"}, "Leímos la O como cero y la L como uno."),
])
def test_look_alike_letters_are_read_as_digits_and_the_confirmation_says_so(client, world, login, hx,
                                                                            typed_as, said):
    key = factories.prepaid_key(code=_code_with(*typed_as))
    typed = key.code
    for digit, letter in typed_as.items():
        typed = typed.replace(digit, letter, 1)
    login(world.a.user)
    for headers in ({}, hx):
        body = _text(validate(client, typed, headers, follow=True))
        assert f'{key_codes.grouped(key.code)}</strong> válida (incluye 50 Timbres)' in body
        assert f'<span class="prepaid-read-as">{said}</span>' in body


def test_all_three_look_alikes_are_named_and_a_plain_code_says_nothing(client, world, login):
    key = factories.prepaid_key(code=_code_with("0", "1"))
    typed = key.code.replace("0", "O", 1).replace("1", "I", 1).replace("1", "L", 1)
    login(world.a.user)
    assert "Leímos la O como cero, la I como uno y la L como uno." in _text(validate(client, typed, follow=True))
    assert "Leímos" not in _text(validate(client, key.code, follow=True))
    # Not a code at all: nothing is said about its letters, only that it is not a key.
    assert "Leímos" not in _text(validate(client, "HOLA MUNDO", follow=True))


def test_a_customer_desk_is_not_offered_distribuidor(client, world, login):
    key = factories.prepaid_key()
    login(world.b.user)
    body = _text(validate(client, key.code, follow=True))
    assert "Mi Negocio" in body and 'value="distribuidor"' not in body


def test_the_license_is_a_page_and_for_htmx_a_modal(client, world, login, hx):
    login(world.a.user)
    page = _text(client.get("/claves-prepago/licencia"))
    modal = _text(client.get("/claves-prepago/licencia", headers=hx))
    assert "<html" in page and "Licencia de Uso</h1>" in page and "LICENCIA DE USO" in page
    assert "<html" not in modal and "<dialog" in modal and "data-modal" in modal and ">Aceptar<" in modal
    assert "serán válidos solo para ese Escritorio" in modal


# --- confirm: the happy paths ------------------------------------------------------------------

def test_confirm_without_js_redirects_to_the_notice_and_the_email_arrives(client, world, login, deliver):
    key = factories.prepaid_key()
    login(world.a.user)
    token = step_token(_text(validate(client, key.code, follow=True)))
    response = confirm(client, token, destination="distribuidor")
    assert response.status_code == 303
    assert response.headers["Location"] == f"{ACTIVATE}/aviso?claves={key.id}"
    notice = client.get(response.headers["Location"])
    body = _text(notice)
    assert notice.status_code == 200 and "<html" in body
    assert "Aviso" in body and "Los servicios liberados por este medio serán válidos solo para este Escritorio." in body
    assert f'href="/claves-prepago?resaltar={key.id}"' in body and ">Aceptar<" in body
    key = _fresh(key)
    assert (key.status, key.desk_id, key.destination, key.confirmed_by_id) == (
        "disponible", world.a.desk.id, "distribuidor", world.a.user.id)

    # The test client shares one app context (and session) across requests; end its transaction
    # so the outbox worker's own session can write, as it would between real requests.
    db.session.rollback()
    messages = deliver()
    assert len(messages) == 1
    mail = messages[0]["message"]
    assert messages[0]["to"] == [world.a.user.email]
    assert mail["Subject"] == "Confirmación de tu clave de prepago"
    text = body_of(mail)
    for expected in (key_codes.masked(key.code), "50 Timbres", world.a.desk.razon_social, factories.today().strftime("%d/%m/%Y")):
        assert expected in text
    assert key.code not in messages[0]["raw"] and key_codes.grouped(key.code) not in messages[0]["raw"]


def test_confirm_with_htmx_swaps_the_panel_and_opens_the_notice(client, world, login, hx):
    key = factories.prepaid_key()
    login(world.b.user)
    token = step_token(_text(validate(client, key.code, hx, follow=True)))
    response = confirm(client, token, headers=hx)
    body = _text(response)
    assert response.status_code == 200 and "<html" not in body and 'id="prepaid-panel"' in body
    assert '<dialog class="modal" id="prepaid-notice"' in body and "data-modal" in body
    assert "Los servicios liberados por este medio serán válidos solo para este Escritorio." in body
    assert f"/claves-prepago?resaltar={key.id}" in body
    assert _fresh(key).status == "utilizada"


def test_several_keys_at_once_each_with_its_own_result(client, world, login):
    first, second = factories.prepaid_key(), factories.prepaid_key(quantity=200)
    unknown = key_codes.generate()
    login(world.a.user)
    body = _text(validate(client, [first.code, unknown, "  ", key_codes.grouped(second.code)], follow=True))
    assert f"{key_codes.grouped(first.code)}</strong> válida (incluye 50 Timbres)" in body
    assert f"{key_codes.grouped(second.code)}</strong> válida (incluye 200 Timbres)" in body
    assert f"{key_codes.grouped(unknown)}</strong>: La clave no existe." in body
    response = confirm(client, step_token(body), destination="distribuidor")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"claves={first.id},{second.id}")
    notice = _text(client.get(response.headers["Location"]))
    assert f"{key_codes.grouped(first.code)}</strong> activada el" in notice
    assert f"{key_codes.grouped(second.code)}</strong> activada el" in notice
    assert _fresh(first).desk_id == _fresh(second).desk_id == world.a.desk.id
    assert _outbox_count() == 2


def test_double_submit_is_idempotent_and_says_so(client, world, login, hx):
    key = factories.prepaid_key()
    login(world.b.user)
    token = step_token(_text(validate(client, key.code, follow=True)))
    first = confirm(client, token)
    again = confirm(client, token)
    assert first.status_code == again.status_code == 303
    assert "La clave ya está activada en este escritorio." in _text(client.get(again.headers["Location"]))
    with_htmx = confirm(client, token, headers=hx)
    assert with_htmx.status_code == 200
    assert "La clave ya está activada en este escritorio." in _text(with_htmx)
    assert _outbox_count() == 1


# --- confirm: refusals -------------------------------------------------------------------------

def test_confirm_without_accepting_the_license_is_refused(client, world, login, hx):
    key = factories.prepaid_key()
    login(world.a.user)
    token = step_token(_text(validate(client, key.code, follow=True)))
    for headers in ({}, hx):
        response = confirm(client, token, accept=False, headers=headers, follow=True)
        body = _text(response)
        assert response.status_code == 422
        assert "Para confirmar debes aceptar la Licencia de Uso." in body
        assert "Solicitar Clave de Confirmación" in body and step_token(body)
    assert _fresh(key).status == "nueva" and _outbox_count() == 0
    assert confirm(client, token).status_code == 303


@pytest.mark.parametrize("typed", ["n", "no", "0", "off", "false"])
def test_a_typed_refusal_of_the_license_is_not_acceptance(client, world, login, typed):
    key = factories.prepaid_key()
    login(world.a.user)
    token = step_token(_text(validate(client, key.code, follow=True)))
    response = client.post("/claves-prepago/activar/confirmar", follow_redirects=True,
                           data={"token": token, "destination": "mi_negocio", "accept_license": typed})
    assert response.status_code == 422 and "Para confirmar debes aceptar la Licencia de Uso." in _text(response)
    assert _fresh(key).status == "nueva" and _outbox_count() == 0


def test_the_validation_limit_says_when_to_come_back(client, world, login):
    login(world.a.user)
    for _ in range(10):
        validate(client, "ZZZZ-ZZZZ-ZZZZ-ZZZZ", follow=True)
    refused = validate(client, "ZZZZ-ZZZZ-ZZZZ-ZZZZ", follow=True)
    assert refused.status_code == 429 and 840 <= int(refused.headers["Retry-After"]) <= 900


@pytest.mark.parametrize("party, destination, message", [
    ("b", "distribuidor", "El destino «Distribuidor» solo está disponible para escritorios de distribuidor."),
    ("a", "<b>otro</b>", "Elige el destino de la clave: Mi Negocio o Distribuidor."),
])
def test_a_destination_the_desk_cannot_choose_is_refused(client, world, login, party, destination, message):
    key = factories.prepaid_key()
    login(getattr(world, party).user)
    token = step_token(_text(validate(client, key.code, follow=True)))
    response = confirm(client, token, destination=destination, follow=True)
    assert response.status_code == 422
    assert message in _text(response) and "<b>otro</b>" not in _text(response)
    assert _fresh(key).status == "nueva" and _outbox_count() == 0


def test_an_unverified_email_cannot_have_a_key_emailed(client, world, login):
    key = factories.prepaid_key()
    unverified = factories.user(world.b.desk, verified=False)
    login(unverified)
    token = step_token(_text(validate(client, key.code, follow=True)))
    response = confirm(client, token, follow=True)
    body = _text(response)
    assert response.status_code == 403
    assert "Verifica tu correo electrónico antes de confirmar claves" in body
    assert 'href="/cuenta/verificar"' in body
    assert _fresh(key).status == "nueva" and _outbox_count() == 0


def test_a_key_taken_by_another_desk_between_the_steps(client, world, login):
    key = factories.prepaid_key()
    login(world.a.user)
    token = step_token(_text(validate(client, key.code, follow=True)))
    from portal.prepaid.redemption import confirm_key
    confirm_key(world.b.desk, world.b.user, key.code, "mi_negocio", True, today=factories.today())
    db.session.commit()
    lost = confirm(client, token, destination="distribuidor")
    assert lost.status_code == 303 and lost.headers["Location"] == STEP_TWO
    response = client.get(STEP_TWO)
    assert response.status_code == 409
    assert "La clave ya fue activada en otro escritorio." in _text(response)
    assert _fresh(key).desk_id == world.b.desk.id
    # Nothing is left to confirm: step 2 again (reload, Back) does not offer the key.
    assert client.get(STEP_TWO).headers["Location"] == ACTIVATE
    assert "No hay claves validadas por confirmar" in _text(client.get(ACTIVATE))


def _old_token(app, desk, user, key_code, age):
    serializer = timed_serializer(app.config["SECRET_KEY"], SALT, clock.timestamp() - age)
    return serializer.dumps({"d": desk.id, "u": user.id, "c": [key_code]})


@pytest.mark.parametrize("case", ["forged", "tampered", "other_user", "expired", "missing", "garbage_codes"])
def test_forged_or_expired_step_tokens_are_refused(app, client, world, login, case):
    key = factories.prepaid_key()
    login(world.a.user)
    genuine = step_token(_text(validate(client, key.code, follow=True)))
    token = {
        "forged": URLSafeTimedSerializer("otra-clave", salt=SALT).dumps({"d": world.a.desk.id, "u": world.a.user.id,
                                                                         "c": [key.code]}),
        "tampered": genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB"),
        "other_user": make_step_token(world.b.desk, world.b.user, [key.code]),
        "expired": _old_token(app, world.a.desk, world.a.user, key.code, 3600),
        "missing": "",
        "garbage_codes": timed_serializer(app.config["SECRET_KEY"], SALT).dumps(
            {"d": world.a.desk.id, "u": world.a.user.id, "c": ["<script>"]}),
    }[case]
    response = confirm(client, token, follow=True)
    body = _text(response)
    assert response.status_code == 422
    expected = "expiró" if case == "expired" else "no es válida"
    assert f"La solicitud de confirmación {expected}. Captura la clave de nuevo." in body
    assert "Clave Prepago" in body  # back to step 1
    assert _fresh(key).status == "nueva" and _outbox_count() == 0


@pytest.mark.parametrize("case, status, message", [
    ("empty", 422, "Captura la clave de prepago."),
    ("malformed", 422, "La clave debe tener 16 letras y números"),
    ("check", 422, "Revisa la clave: parece tener un error de captura."),
    ("unknown", 422, "La clave no existe."),
    ("here", 200, "La clave ya está activada en este escritorio."),
    ("elsewhere", 422, "La clave ya fue activada en otro escritorio."),
    ("expired", 422, "La clave venció el"),
    ("revoked", 422, "La clave fue cancelada y ya no puede usarse."),
    ("too_many", 422, "Captura como máximo 20 claves a la vez."),
])
def test_every_bad_key_gets_a_clear_message_and_changes_nothing(client, world, login, hx, case, status, message):
    keys = {
        "here": factories.prepaid_key(world.a.desk),
        "elsewhere": factories.prepaid_key(world.b.desk),
        "expired": factories.prepaid_key(expires_on=factories.today() - timedelta(days=1)),
        "revoked": factories.prepaid_key(status="revocada"),
    }
    good = key_codes.generate()
    typed = {
        "empty": "   ", "malformed": "ABC-123", "unknown": good,
        "check": good[:-1] + ("0" if good[-1] != "0" else "1"),
        "too_many": "\n".join(key_codes.generate() for _ in range(21)),
    }.get(case) or keys[case].code
    before = {k.id: (k.status, k.desk_id) for k in keys.values()}
    login(world.a.user)
    for headers in ({}, hx):
        response = validate(client, typed, headers, follow=True)
        assert response.status_code == status
        assert message in _text(response)
        assert ("<html" in _text(response)) is (headers == {})
    assert {k.id: (_fresh(k).status, _fresh(k).desk_id) for k in keys.values()} == before
    assert _outbox_count() == 0


def test_validation_failures_are_audited_without_the_code(client, world, login):
    unknown = key_codes.generate()
    login(world.a.user)
    validate(client, [unknown, "basura"], follow=True)
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "prepaid_key_validation_failed")
                                .order_by(AuditEvent.id)).all()
    assert [e.detail["reason"] for e in events] == ["unknown_key", "malformed_key"]
    assert events[0].detail["key"] == key_codes.masked(unknown) and events[1].detail["key"] is None
    assert all(e.user_id == world.a.user.id and e.ip == "127.0.0.1" for e in events)
    assert unknown not in str([e.detail for e in events])


# --- brute force --------------------------------------------------------------------------------

def _as(client, ip):
    client.environ_base["REMOTE_ADDR"] = ip


def test_failed_validations_are_limited_per_user_and_per_ip(client, world, login, hx):
    key = factories.prepaid_key()
    other = factories.user(world.a.desk)
    login(world.a.user)
    _as(client, "10.1.1.1")
    for _ in range(10):
        assert validate(client, key_codes.generate(), follow=True).status_code == 422
    for headers in ({}, hx):
        blocked = validate(client, key.code, headers, follow=True)
        assert blocked.status_code == 429
        assert "Demasiados intentos fallidos de validar claves. Espera 15 minutos" in _text(blocked)
    _as(client, "10.2.2.2")  # same user, another address: the user's limit holds
    assert validate(client, key.code, follow=True).status_code == 429
    client.post("/cuenta/salir")
    login(other)
    _as(client, "10.1.1.1")  # another user, the same address: the address's limit holds
    assert validate(client, key.code, follow=True).status_code == 429
    _as(client, "10.3.3.3")
    assert validate(client, key.code, follow=True).status_code == 200
    assert _fresh(key).status == "nueva"


def test_the_limit_stops_a_long_paste_midway(client, world, login):
    login(world.a.user)
    response = validate(client, [key_codes.generate() for _ in range(12)], follow=True)
    body = _text(response)
    assert response.status_code == 429
    assert body.count("La clave no existe.") == 10 and body.count("Demasiados intentos fallidos") == 2


def test_keys_already_here_do_not_count_as_failures(client, world, login):
    here = factories.prepaid_key(world.a.desk)
    login(world.a.user)
    for _ in range(12):
        assert validate(client, here.code, follow=True).status_code == 200


# --- without JS: post/redirect/get -------------------------------------------------------------

def _session(app, client):
    """What the browser's session cookie holds (signed, not encrypted: anyone with it can read it)."""
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


def _count(event):
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.event == event))


def _code_in(text, code):
    return any(form in text for form in (code, key_codes.grouped(code), code.lower()))


def test_without_js_every_step_answers_303_and_back_or_reload_only_gets(app, client, world, login):
    key = factories.prepaid_key()
    login(world.a.user)
    locations = []

    validated = validate(client, key.code)
    assert validated.status_code == 303 and validated.headers["Location"] == STEP_TWO
    locations.append(validated.headers["Location"])
    for _ in range(2):  # shown, then reloaded: the same step, nothing counted or sent again
        page = client.get(STEP_TWO)
        body = _text(page)
        assert page.status_code == 200 and "<html" in body
        for text in ("Solicitar Clave de Confirmación", "Mi Negocio", "Distribuidor",
                     f'Clave <strong class="key-code">{key_codes.grouped(key.code)}</strong> válida (incluye 50 Timbres)',
                     world.a.desk.razon_social, "Acepto la Licencia de Uso.", "Ver Licencia", ">Confirmar<",
                     "Activar otra Clave"):
            assert text in body, text
    assert _count("prepaid_key_validated") == 1 and _fresh(key).status == "nueva"
    # The valid code stays out of the session cookie too: step 2 reads it back from the key's id.
    assert not _code_in(str(_session(app, client)), key.code)

    # Confirmar without the license: refused, shown by step 2's page once, with its status.
    refused = confirm(client, step_token(body), accept=False)
    assert refused.status_code == 303 and refused.headers["Location"] == STEP_TWO
    locations.append(refused.headers["Location"])
    shown = client.get(STEP_TWO)
    assert shown.status_code == 422 and "Para confirmar debes aceptar la Licencia de Uso." in _text(shown)
    again = client.get(STEP_TWO)
    assert again.status_code == 200 and "Para confirmar debes aceptar" not in _text(again)

    confirmed = confirm(client, step_token(_text(again)), destination="distribuidor")
    assert confirmed.status_code == 303 and confirmed.headers["Location"] == f"{ACTIVATE}/aviso?claves={key.id}"
    locations.append(confirmed.headers["Location"])
    for _ in range(2):
        notice = _text(client.get(confirmed.headers["Location"]))
        assert "Los servicios liberados por este medio serán válidos solo para este Escritorio." in notice
        assert f'href="/claves-prepago?resaltar={key.id}"' in notice  # Aceptar: the Claves prepago list

    # Back to step 2 after confirming: step 1, saying so, and the key is not offered again.
    back = client.get(STEP_TWO)
    assert back.status_code == 303 and back.headers["Location"] == ACTIVATE
    locations.append(back.headers["Location"])
    step_one = _text(client.get(ACTIVATE))
    assert "Esas claves ya se confirmaron: las encuentras en Claves prepago." in step_one and ">Validar<" in step_one
    assert _count("prepaid_key_confirmed") == 1 and _outbox_count() == 1
    assert (_fresh(key).status, _fresh(key).desk_id) == ("disponible", world.a.desk.id)
    assert not any(_code_in(location, key.code) for location in locations)


def test_showing_step_two_again_does_not_make_its_step_last_longer(app, client, world, login):
    key = factories.prepaid_key()
    login(world.a.user)
    validate(client, key.code)
    with client.session_transaction() as session:
        step = session["prepaid_step"]
        session["prepaid_step"] = {**step, "at": step["at"] - 10 * 60}  # validated ten minutes ago
    token = step_token(_text(client.get(STEP_TWO)))
    _, signed_at = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=SALT).loads(token, return_timestamp=True)
    assert int(signed_at.timestamp()) == step["at"] - 10 * 60


def test_with_htmx_the_steps_still_swap_the_panel(client, world, login, hx):
    key = factories.prepaid_key()
    login(world.a.user)
    step_two = validate(client, key.code, hx)
    refused = confirm(client, step_token(_text(step_two)), accept=False, headers=hx)
    done = confirm(client, step_token(_text(step_two)), headers=hx)
    for response, status, text in ((step_two, 200, "válida (incluye 50 Timbres)"),
                                   (refused, 422, "Para confirmar debes aceptar la Licencia de Uso."),
                                   (done, 200, "activada (incluye 50 Timbres)")):
        body = _text(response)
        assert response.status_code == status and "Location" not in response.headers
        assert body.lstrip().startswith('<section id="prepaid-panel"') and "<html" not in body and text in body


@pytest.mark.parametrize("case, status, message", [
    ("unknown", 422, "La clave no existe."),
    ("here", 200, "La clave ya está activada en este escritorio."),
    ("too_many", 422, "Captura como máximo 20 claves a la vez."),
])
def test_a_refused_validation_without_js_is_shown_once_by_step_one(client, world, login, case, status, message):
    typed = {"unknown": key_codes.generate(), "here": factories.prepaid_key(world.a.desk).code,
             "too_many": "\n".join(key_codes.generate() for _ in range(21))}[case]
    login(world.a.user)
    refused = validate(client, typed)
    assert refused.status_code == 303 and refused.headers["Location"] == ACTIVATE
    shown = client.get(ACTIVATE)
    body = _text(shown)
    assert shown.status_code == status and message in body and "<html" in body
    assert typed.splitlines()[0] in body  # what was typed, in the box again to correct it
    reloaded = client.get(ACTIVATE)
    assert reloaded.status_code == 200 and message not in _text(reloaded)
    assert _count("prepaid_key_validation_failed") == (1 if case == "unknown" else 0)


def test_a_refused_paste_of_twenty_keys_fits_in_the_session_cookie(client, world, login):
    # Not codes, and random (nothing for the cookie's compression to share): each echoed back, cut short.
    typed = [secrets.token_urlsafe(19) for _ in range(MAX_KEYS_PER_REQUEST)]
    login(world.a.user)
    refused = validate(client, typed)
    cookie = next(value for name, value in refused.headers.items() if name == "Set-Cookie" and value.startswith("session="))
    assert len(cookie) < 4000  # browsers drop a larger cookie, and the refusal with it
    body = _text(client.get(ACTIVATE))
    assert all(raw[:23] + "…" in body for raw in typed)
    assert body.count("La clave debe tener 16 letras y números") + body.count("Demasiados intentos fallidos") == 20


def _with_second_desk(user):
    second = factories.desk("cliente")
    from portal.models import Membership
    db.session.add(Membership(user_id=user.id, desk_id=second.id, role="member"))
    db.session.commit()
    return second


@pytest.mark.parametrize("case, message", [
    ("bookmark", "No hay claves validadas por confirmar en este escritorio. Captura la clave de nuevo."),
    ("other_browser", "No hay claves validadas por confirmar en este escritorio. Captura la clave de nuevo."),
    ("other_desk", "No hay claves validadas por confirmar en este escritorio. Captura la clave de nuevo."),
    ("other_user", "No hay claves validadas por confirmar en este escritorio. Captura la clave de nuevo."),
    ("expired", "La solicitud de confirmación expiró. Captura la clave de nuevo."),
])
def test_step_two_without_its_step_one_goes_back_to_step_one_saying_why(app, client, world, login, case, message):
    key = factories.prepaid_key()
    second = _with_second_desk(world.a.user)
    login(world.a.user)
    browser = client
    if case != "bookmark":
        assert validate(client, key.code).status_code == 303
    if case == "other_browser":
        browser = app.test_client()
        login(world.a.user, target=browser)
    elif case == "other_desk":
        client.post("/escritorio", data={"desk_id": second.id, "next": ACTIVATE})
    elif case == "other_user":
        client.post("/cuenta/salir")
        login(world.b.user)
    elif case == "expired":
        with client.session_transaction() as session:
            step = session["prepaid_step"]
            session["prepaid_step"] = {**step, "at": step["at"] - 16 * 60}
    response = browser.get(STEP_TWO)
    assert response.status_code == 303 and response.headers["Location"] == ACTIVATE
    body = _text(browser.get(ACTIVATE))
    assert message in body and ">Validar<" in body and not _code_in(body, key.code)
    if case == "other_desk":  # back in the desk that validated it, the step is there again
        client.post("/escritorio", data={"desk_id": world.a.desk.id, "next": ACTIVATE})
        assert key_codes.grouped(key.code) in _text(client.get(STEP_TWO))
    assert _fresh(key).status == "nueva"


# --- CSRF and other desks ------------------------------------------------------------------------

@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_posts_without_the_csrf_token_are_refused(client, world):
    key = factories.prepaid_key()
    sign_in = _text(client.get("/cuenta/ingresar"))
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', sign_in).group(1)
    client.post("/cuenta/ingresar", data={"email": world.a.user.email, "password": factories.PASSWORD,
                                          "csrf_token": csrf})
    # Sign-in renews the session and so the CSRF token; the test client shares one app context (and
    # its g, where Flask-WTF caches the token) across requests, so drop the cached one first.
    g.pop("csrf_token", None)
    csrf = re.search(r'"X-CSRFToken": "([^"]+)"', _text(client.get(ACTIVATE))).group(1)
    token = make_step_token(world.a.desk, world.a.user, [key.code])
    confirm_data = {"token": token, "destination": "distribuidor", "accept_license": "y"}
    for path, data in ((ACTIVATE, {"keys": key.code}), (ACTIVATE + "/confirmar", confirm_data)):
        response = client.post(path, data=data)
        assert response.status_code == 400
        assert "La sesión del formulario expiró o no es válida." in _text(response)
    assert _fresh(key).status == "nueva"
    # The same request with the header htmx sends goes through.
    assert client.post(ACTIVATE, data={"keys": key.code}, headers={"X-CSRFToken": csrf}).status_code == 303


def test_another_desk_cannot_see_the_notice_of_my_keys(client, world, login):
    mine = factories.prepaid_key(world.a.desk)
    login(world.b.user)
    assert client.get(f"{ACTIVATE}/aviso?claves={mine.id}").status_code == 404
    login(world.a.user)
    assert client.get(f"{ACTIVATE}/aviso?claves={mine.id}").status_code == 200


@pytest.mark.parametrize("query", ["", "?claves=", "?claves=abc", "?claves=1;2", "?claves=99999999999999"])
def test_the_notice_with_bad_ids_is_a_404(client, world, login, query):
    login(world.a.user)
    assert client.get(f"{ACTIVATE}/aviso{query}").status_code == 404


def test_a_token_made_in_one_desk_cannot_confirm_in_another(client, app, login):
    first, second = factories.desk("distribuidor"), factories.desk("cliente")
    user = factories.user(first)
    from portal.models import Membership
    db.session.add(Membership(user_id=user.id, desk_id=second.id, role="member"))
    db.session.commit()
    key = factories.prepaid_key()
    login(user)
    token = step_token(_text(validate(client, key.code, follow=True)))
    client.post("/escritorio", data={"desk_id": second.id, "next": ACTIVATE})
    response = confirm(client, token, follow=True)
    assert response.status_code == 422 and "no es válida" in _text(response)
    assert _fresh(key).status == "nueva"


# --- "Claves prepago" (figure 5) ------------------------------------------------------------------

LIST = "/claves-prepago"


def _period_text(since, until):
    return f"Fecha de contratación desde {since:%d/%m/%Y} al {until:%d/%m/%Y}"


def _rows(html):
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in re.findall(r"<tr>(.*?)</tr>", body)]


@pytest.fixture
def keys_of_a(world):
    """Figure 5's keys in desk A, and one key of desk B that A must never see."""
    today = factories.today()
    empresa = factories.client(world.a.desk, "Empresa 1")
    available = factories.prepaid_key(world.a.desk, quantity=200, confirmed_on=today)
    used = factories.prepaid_key(world.a.desk, status="utilizada", client=empresa, quantity=50,
                                 confirmed_on=today - timedelta(days=1), activated_on=today)
    old = factories.prepaid_key(world.a.desk, confirmed_on=today - timedelta(days=200))
    foreign = factories.prepaid_key(world.b.desk, confirmed_on=today)
    return {"available": available, "used": used, "old": old, "foreign": foreign}


def test_the_list_shows_figure_5(client, world, login, keys_of_a):
    login(world.a.user)
    response = client.get(LIST)
    html = _text(response)
    today = factories.today()
    assert response.status_code == 200 and "<html" in html and "<h1>Claves prepago</h1>" in html
    from portal.prepaid.grids import months_before
    assert f"Claves de prepago con:\n  <strong>{_period_text(months_before(today, 2), today)}</strong>" in html
    for text in ("Filtro", "Columnas", "Arrastra una columna aquí para agrupar por ella", "Exportar CSV",
                 ">Activar claves<", ">Comprar ahora<", 'href="https://tienda.example/aspel"',
                 "La asignación de cliente se realiza al momento que tú cliente comienza hacer uso del servicio o producto."):
        assert text in html, text
    assert re.findall(r'id="grid-claves-prepago-sort-\w+"[^>]*>([^<]+)<', html) == [
        "Clave", "Cantidad", "Fecha", "F. Activación", "Estatus", "Cliente"]
    available, used = keys_of_a["available"], keys_of_a["used"]
    assert _rows(html) == [
        f"{key_codes.grouped(available.code)} 200 Timbres {today:%d/%m/%Y} Inactiva Disponible Sin asignar",
        f"{key_codes.grouped(used.code)} 50 Timbres {today - timedelta(days=1):%d/%m/%Y} {today:%d/%m/%Y} Utilizada Empresa 1",
    ]
    assert key_codes.grouped(keys_of_a["old"].code) not in html  # contracted before the default period
    assert key_codes.grouped(keys_of_a["foreign"].code) not in html


def test_the_period_is_editable_and_the_fragment_updates_it(client, world, login, hx, keys_of_a):
    login(world.a.user)
    since, until = factories.today() - timedelta(days=365), factories.today()
    query = f"{LIST}?desde={since.isoformat()}&hasta={until:%d/%m/%Y}"
    page, fragment = client.get(query), client.get(query, headers=hx)
    for response in (page, fragment):
        html = _text(response)
        assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
        assert _period_text(since, until) in html
        assert key_codes.grouped(keys_of_a["old"].code) in html
        assert key_codes.grouped(keys_of_a["foreign"].code) not in html
    html = _text(fragment)
    assert "<html" not in html and 'id="prepaid-period" class="prepaid-period" hx-swap-oob="true"' in html
    assert 'id="grid-claves-prepago"' in html and "grid-toolbar" not in html
    # The form shows DD/MM/AAAA; the pushed URL spells both dates AAAA-MM-DD, however they were typed.
    assert f'value="{since:%d/%m/%Y}"' in _text(page) and f'value="{until:%d/%m/%Y}"' in _text(page)
    assert f"desde={since.isoformat()}&hasta={until.isoformat()}" in fragment.headers["HX-Push-Url"]


def _every_date_box(html):
    return re.search(r'<input type="checkbox" name="fechas" value="todas"[^>]*>', html).group(0)


def test_todas_las_fechas_and_both_dates_cleared_list_every_key_and_say_so(client, world, login, hx, keys_of_a):
    login(world.a.user)
    fresh = _text(client.get(LIST))
    assert "checked" not in _every_date_box(fresh) and "Todas las fechas" in fresh
    since, until = factories.today() - timedelta(days=30), factories.today()
    typed = f"desde={since:%d/%m/%Y}&hasta={until:%d/%m/%Y}"
    for query in ("fechas=todas", "desde=&hasta=", f"{typed}&fechas=todas"):
        page, fragment = client.get(f"{LIST}?{query}"), client.get(f"{LIST}?{query}", headers=hx)
        for response in (page, fragment):
            html = _text(response)
            assert response.status_code == 200 and "Claves de prepago con:\n  <strong>todas las fechas</strong>" in html
            assert key_codes.grouped(keys_of_a["old"].code) in html and len(_rows(html)) == 3
            assert key_codes.grouped(keys_of_a["foreign"].code) not in html
        html = _text(page)
        assert "checked" in _every_date_box(html)
        assert re.search(r'<input type="text" name="desde" [^>]*value=""', html)
        assert re.search(r'<input type="text" name="hasta" [^>]*value=""', html)
        assert "Fecha de contratación" not in html and "<dt>Fecha</dt>" not in html
        # The URL says it, so the links, a bookmark and a reload keep every date.
        assert fragment.headers["HX-Push-Url"] == f"{LIST}?fechas=todas"
        assert f'href="{LIST}?fechas=todas&amp;formato=imprimir"' in html
        assert f'href="{LIST}?fechas=todas&amp;sort=fecha"' in html
    # "Limpiar filtros" is the fresh visit again: the last two months.
    cleared = re.search(r'id="grid-claves-prepago-clear"><a href="([^"]+)"', _text(client.get(f"{LIST}?fechas=todas")))
    assert cleared.group(1) == LIST


def test_one_date_cleared_leaves_the_other_as_the_only_bound(client, world, login, keys_of_a):
    login(world.a.user)
    since = factories.today() - timedelta(days=1)
    html = _text(client.get(f"{LIST}?desde={since:%d/%m/%Y}&hasta="))
    assert f"Claves de prepago con:\n  <strong>Fecha de contratación desde {since:%d/%m/%Y}</strong>" in html
    assert len(_rows(html)) == 2 and key_codes.grouped(keys_of_a["old"].code) not in html
    until = factories.today() - timedelta(days=100)
    html = _text(client.get(f"{LIST}?desde=&hasta={until.isoformat()}"))
    assert f"Claves de prepago con:\n  <strong>Fecha de contratación hasta {until:%d/%m/%Y}</strong>" in html
    assert _rows(html) and all(key_codes.grouped(keys_of_a["old"].code) in row for row in _rows(html))


def test_filter_sort_group_and_search(client, world, login, keys_of_a):
    login(world.a.user)
    available, used = keys_of_a["available"], keys_of_a["used"]
    only_used = _rows(_text(client.get(f"{LIST}?estatus=utilizada")))
    assert len(only_used) == 1 and "Empresa 1" in only_used[0]
    by_amount = _rows(_text(client.get(f"{LIST}?sort=cantidad")))
    assert [row.split()[1] for row in by_amount] == ["50", "200"]  # by number, not by text
    grouped = _text(client.get(f"{LIST}?group=cliente"))
    assert "Cliente: Empresa 1 (1)" in grouped and "Cliente: Sin asignar (1)" in grouped
    found = _rows(_text(client.get(f"{LIST}?q={key_codes.grouped(used.code).lower()}")))
    assert len(found) == 1 and key_codes.grouped(used.code) in found[0]
    assert len(_rows(_text(client.get(f"{LIST}?q=empresa")))) == 1
    assert key_codes.grouped(available.code) in _text(client.get(f"{LIST}?cliente="))


@pytest.mark.parametrize("query, notice", [
    ("estatus=robada", "no es un valor válido de Estatus"),
    ("desde=ayer", "«ayer» no es una fecha válida de Fecha (usa DD/MM/AAAA)"),
    ("sort=codigo", "No se puede ordenar por «codigo»"),
    ("group=clave", "No se puede agrupar por «clave»"),
    ("page=-1", "La página «-1» no es válida"),
])
def test_bad_list_parameters_give_a_notice_not_an_error(client, world, login, keys_of_a, query, notice):
    login(world.a.user)
    response = client.get(f"{LIST}?{query}")
    assert response.status_code == 200 and notice in _text(response)


def test_csv_export_is_this_desks_keys_only(client, world, login, keys_of_a):
    login(world.a.user)
    response = client.get(f"{LIST}?formato=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0] == "Clave,Cantidad,Fecha,F. Activación,Estatus,Cliente"
    assert len(lines) == 3
    assert any("Inactiva,Disponible,Sin asignar" in line for line in lines)
    assert not any(keys_of_a["foreign"].code in line for line in lines)


def test_the_print_view_is_the_whole_page_of_this_desks_filtered_keys(client, world, login, hx, keys_of_a):
    login(world.a.user)
    for headers in ({}, hx):  # htmx asking changes nothing: a print view is never swapped in
        response = client.get(f"{LIST}?formato=imprimir&estatus=utilizada&page=4&per_page=10", headers=headers)
        html = _text(response)
        assert response.status_code == 200 and "<html" in html and "HX-Push-Url" not in response.headers
        rows = _rows(html)
        assert len(rows) == 1 and key_codes.grouped(keys_of_a["used"].code) in rows[0]
        assert "no existe" not in html and key_codes.grouped(keys_of_a["foreign"].code) not in html


def test_a_page_past_the_end_says_so_once(client, world, login, keys_of_a):
    login(world.a.user)
    html = _text(client.get(f"{LIST}?page=99999"))
    assert "La página 99,999 no existe; se muestra la última (1)." in html
    assert "Solo se puede avanzar" not in html


def test_the_new_key_is_highlighted_only_in_its_own_desk(client, world, login, keys_of_a):
    login(world.a.user)
    mine = keys_of_a["available"]
    html = _text(client.get(f"{LIST}?resaltar={mine.id}"))
    assert f'<mark class="key-code key-new">{key_codes.grouped(mine.code)}</mark>' in html and "Nueva" in html
    client.post("/cuenta/salir")
    login(world.b.user)
    html = _text(client.get(f"{LIST}?resaltar={mine.id}"))
    assert "key-new" not in html and key_codes.grouped(mine.code) not in html
    assert key_codes.grouped(keys_of_a["foreign"].code) in html


def test_the_list_needs_a_signed_in_user(client):
    assert client.get(LIST).status_code == 302


@pytest.mark.parametrize("day, expected", [
    (date(2020, 7, 14), date(2020, 5, 14)), (date(2026, 1, 15), date(2025, 11, 15)),
    (date(2026, 4, 30), date(2026, 2, 28)), (date(2028, 4, 30), date(2028, 2, 29)),
])
def test_the_default_period_starts_two_months_back(day, expected):
    from portal.prepaid.grids import months_before
    assert months_before(day, 2) == expected


def test_a_desk_without_keys_gets_a_friendly_empty_list(client, world, login):
    login(world.b.user)
    html = _text(client.get(LIST))
    assert "Aún no hay claves de prepago en este escritorio." in html
    assert ">Activar claves<" in html and "<tbody>" not in html
