"""Brute force and limits: forged client addresses, many accounts, guessed keys, two instances, Redis down.

The figures are "allowed before the first 429": the configured limit, whatever the attacker varies.
"""
import uuid

import pytest
import requests
from sqlalchemy import func, select

from portal.extensions import db
from portal.limits import LIMITS
from portal.models import PrepaidKey
from portal import key_codes
from portal.prepaid.forms import MAX_KEYS_PER_REQUEST
from tests import factories
from tests.abuse_helpers import record_figure, scale
from tests.api_support import token as api_token
from tests.prepaid_helpers import REDIS_URL, gunicorn, redis_or_skip, server_config, signed_in_cookies

pytestmark = pytest.mark.abuse  # the fault and abuse suite (docs/TESTING.md)

SIGN_IN_IP = int(LIMITS["signin_address"].rate.split("/")[0])                  # 20 per address
SIGN_IN_ACCOUNT = int(LIMITS["signin_account_address"].rate.split("/")[0])     # 5 per account and address
KEY_GUESSES = int(LIMITS["prepaid_validation"].rate.split("/")[0])             # 10 failed validations
LIMITS_DOWN = "No podemos procesar tu solicitud en este momento"
KEYS_DOWN = "No es posible validar claves en este momento."


def _allowed_before_429(statuses):
    """How many attempts got an answer before the first 429 (all of them if none)."""
    return statuses.index(429) if 429 in statuses else len(statuses)


def _fail_sign_in(client, email, **kwargs):
    return client.post("/cuenta/ingresar", data={"email": email, "password": "adivinanza-" + uuid.uuid4().hex[:6]},
                       **kwargs).status_code


def test_forged_x_forwarded_for_is_ignored_without_a_trusted_proxy(client, world):
    spoofed = [{"X-Forwarded-For": f"203.0.113.{n}"} for n in range(50)]
    address = {"REMOTE_ADDR": "198.51.100.9"}
    # One account, 50 forged addresses: the account's own limit.
    on_one = [_fail_sign_in(client, world.a.user.email, headers=h, environ_base=address) for h in spoofed]
    # 50 accounts, 50 forged addresses: the real address's limit.
    address = {"REMOTE_ADDR": "198.51.100.10"}
    on_many = [_fail_sign_in(client, f"otra{n}@empresa.mx", headers=h, environ_base=address)
               for n, h in enumerate(spoofed)]
    record_figure("límites: 50 X-Forwarded-For falsos, PROXY_COUNT=0",
                  f"una cuenta: bloqueada tras {_allowed_before_429(on_one)}; 50 cuentas: la IP real bloqueada tras "
                  f"{_allowed_before_429(on_many)}", f"{SIGN_IN_ACCOUNT} y {SIGN_IN_IP}")
    assert on_one == [422] * SIGN_IN_ACCOUNT + [429] * (50 - SIGN_IN_ACCOUNT)
    assert on_many == [422] * SIGN_IN_IP + [429] * (50 - SIGN_IN_IP)


@pytest.mark.app_config(PROXY_COUNT=1)
def test_behind_one_trusted_proxy_only_the_address_it_saw_counts(client):
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    # The client forges the left part; the proxy appends the address it really saw.
    forged = [_fail_sign_in(client, f"persona{n}@empresa.mx", environ_base=proxy,
                            headers={"X-Forwarded-For": f"203.0.113.{n}, 192.0.2.7"}) for n in range(30)]
    neighbour = _fail_sign_in(client, "vecina@empresa.mx", environ_base=proxy,
                              headers={"X-Forwarded-For": "203.0.113.1, 192.0.2.8"})
    record_figure("límites: PROXY_COUNT=1, 30 intentos con la parte izquierda de X-Forwarded-For falsa",
                  f"bloqueado tras {_allowed_before_429(forged)}; otra IP detrás del mismo proxy: {neighbour}",
                  f"{SIGN_IN_IP}; la otra IP no se bloquea (422)")
    assert _allowed_before_429(forged) == SIGN_IN_IP and forged[SIGN_IN_IP:] == [429] * (30 - SIGN_IN_IP)
    assert neighbour == 422


@pytest.mark.stress
def test_one_address_over_a_hundred_accounts_is_blocked_after_the_limit(client):
    desk = factories.desk()
    accounts = [factories.user(desk, role="member") for _ in range(100)]
    address = {"REMOTE_ADDR": "198.51.100.77"}
    statuses = [_fail_sign_in(client, user.email, environ_base=address) for user in accounts]
    # Once blocked, even a right password from that address waits.
    right = client.post("/cuenta/ingresar", data={"email": accounts[-1].email, "password": factories.PASSWORD},
                        environ_base=address).status_code
    record_figure("límites: una IP contra 100 cuentas", f"bloqueada tras {_allowed_before_429(statuses)} "
                  f"({statuses.count(429)} rechazos 429; contraseña correcta después: {right})", f"{SIGN_IN_IP}")
    assert statuses == [422] * SIGN_IN_IP + [429] * (100 - SIGN_IN_IP)
    assert right == 429


@pytest.mark.stress
def test_a_thousand_guessed_keys_are_blocked_after_the_limit_and_activate_nothing(client, world, login):
    guesses = scale(1000, 1000)
    real = [factories.prepaid_key() for _ in range(3)]  # new keys waiting in no desk
    login(world.a.user)
    typed = [key_codes.generate() for _ in range(guesses - len(real))]
    # The real codes come late: by then the guesser is blocked and even they are not looked up.
    typed[len(typed) // 2:len(typed) // 2] = [key.code for key in real]
    statuses, looked_up = [], 0
    for start in range(0, len(typed), MAX_KEYS_PER_REQUEST):
        response = client.post("/claves-prepago/activar", data={"keys": "\n".join(typed[start:start + MAX_KEYS_PER_REQUEST])},
                               follow_redirects=True)
        statuses.append(response.status_code)
        page = response.get_data(as_text=True)
        looked_up += page.count("La clave no existe.") + page.count("válida (incluye")
    # Another account from the same address is blocked too (per-IP limit).
    other = factories.user(world.b.desk)
    second = factories.prepaid_key()
    login(other)
    again = client.post("/claves-prepago/activar", data={"keys": second.code}, follow_redirects=True)
    db.session.rollback()
    activated = db.session.scalar(select(func.count()).select_from(PrepaidKey).where(PrepaidKey.status != "nueva"))
    record_figure(f"límites: {guesses} claves de prepago adivinadas", f"consultadas {looked_up}, después 429 "
                  f"({statuses.count(429)} de {len(statuses)} solicitudes), activadas {activated}; "
                  f"otra cuenta desde la misma IP: {again.status_code}", f"bloqueo tras {KEY_GUESSES}, 0 activadas")
    assert looked_up == KEY_GUESSES and activated == 0
    assert statuses[0] == 429 and set(statuses[1:]) == {429}  # the first request already hit the limit
    assert again.status_code == 429


@pytest.mark.multiprocess
def test_two_instances_sharing_redis_allow_the_limit_once_not_twice(app):
    redis_or_skip()
    config = server_config(app, RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX="abuso-" + uuid.uuid4().hex)
    statuses = []
    with gunicorn(config, workers=1) as first, gunicorn(config, workers=1) as second:
        for n in range(2 * SIGN_IN_IP + 4):
            base = (first, second)[n % 2]
            statuses.append(requests.post(base + "/cuenta/ingresar", allow_redirects=False, timeout=30,
                                          data={"email": f"nadie{n}@empresa.mx", "password": "adivinanza"}).status_code)
    record_figure("límites: 2 instancias con Redis, fallos alternados", f"bloqueo tras {_allowed_before_429(statuses)}",
                  f"{SIGN_IN_IP} por ventana (no {2 * SIGN_IN_IP})")
    assert statuses == [422] * SIGN_IN_IP + [429] * (SIGN_IN_IP + 4)


def _closed_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.app_config(RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{_closed_port()}/0")
def test_with_redis_down_limited_actions_fail_closed_clearly_and_nothing_is_a_5xx(app, client, world):
    service = factories.service(world.a.desk)
    key = factories.prepaid_key()
    secret = api_token("facturacion")
    for name, value in signed_in_cookies(app, world.a.user, world.a.desk).items():
        client.set_cookie(name, value)  # signed in before the outage
    anonymous = app.test_client()
    hx = {"HX-Request": "true"}
    answers = {
        "ingresar": anonymous.post("/cuenta/ingresar", data={"email": world.b.user.email, "password": factories.PASSWORD}),
        "ingresar (htmx)": anonymous.post("/cuenta/ingresar", headers=hx,
                                          data={"email": world.b.user.email, "password": factories.PASSWORD}),
        "recuperar": anonymous.post("/cuenta/recuperar", data={"email": world.b.user.email}),
        "activar clave": client.post("/claves-prepago/activar", data={"keys": key.code}, follow_redirects=True),
        "activar clave (htmx)": client.post("/claves-prepago/activar", data={"keys": key.code}, headers=hx),
        "reenviar CDA": client.post(f"/servicios/{service.serial}/reenviar-cda", headers=hx),
        "API": client.get("/api/v1/desks", headers={"Authorization": f"Bearer {secret}"}),
        "páginas": client.get("/servicios/suscripciones"),
        "perfil": client.get("/perfil"),
        "claves": client.get("/claves-prepago"),
    }
    statuses = {name: response.status_code for name, response in answers.items()}
    record_figure("límites: Redis caído", f"{sum(s >= 500 for s in statuses.values())} 5xx; " +
                  ", ".join(f"{name} {status}" for name, status in statuses.items()),
                  "0 5xx; ingreso y activación rechazan (429) con mensaje claro; páginas 200")
    assert all(status < 500 for status in statuses.values())
    for name in ("ingresar", "ingresar (htmx)", "recuperar"):
        assert statuses[name] == 429 and LIMITS_DOWN in answers[name].get_data(as_text=True), name
        assert answers[name].headers["Retry-After"]
    for name in ("activar clave", "activar clave (htmx)"):
        assert statuses[name] == 429 and KEYS_DOWN in answers[name].get_data(as_text=True), name
    assert statuses["reenviar CDA"] == 429 and statuses["API"] == 429
    assert statuses["páginas"] == statuses["perfil"] == statuses["claves"] == 200
    assert anonymous.get("/perfil").status_code == 302  # nobody got in
    db.session.rollback()
    assert db.session.get(PrepaidKey, key.id).status == "nueva"
