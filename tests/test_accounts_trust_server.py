"""Trust, round two (issue 16), against a real server: a forged Host, an over-long Host label,
key codes in the access log, sign-in limits under concurrency, file fields in text forms."""
import io
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent
from tests import factories
from tests.abuse_helpers import record_figure
from tests.accounts_helpers import mailbox  # noqa: F401 (fixture)
from tests.api_support import token as api_token
from tests.conftest import body_of
from tests.prepaid_helpers import REDIS_URL, ROOT, gunicorn, redis_or_skip, server_config

pytestmark = pytest.mark.abuse  # the fault and abuse suite (docs/TESTING.md)

PUBLIC = "https://intranet.example.mx/portal"


@pytest.mark.multiprocess
def test_forged_host_under_gunicorn_gets_no_link_and_a_long_label_a_spanish_400(app, world, smtp, deliver, tmp_path):
    log = tmp_path / "gunicorn.log"
    code = factories.prepaid_key().code
    secret = api_token("facturacion")
    config = server_config(app, PORTAL_URL=PUBLIC)
    with gunicorn(config, workers=2, log=log, args=["-c", str(ROOT / "deploy" / "gunicorn.conf.py")],
                  env={"GUNICORN_ACCESS_LOG": "-"}) as base:
        forged = requests.post(base + "/cuenta/recuperar", data={"email": world.a.user.email},
                               headers={"Host": "evil.example"}, allow_redirects=False, timeout=30)
        long_label = requests.get(base + "/cuenta/ingresar", headers={"Host": "a" * 64 + ".example"}, timeout=30)
        bearer = {"Authorization": f"Bearer {secret}"}
        api = [requests.request(method, base + f"/api/v1/keys/{code}{tail}", headers=bearer, timeout=30, json={})
               for method, tail in (("GET", ""), ("POST", "/assignment"), ("POST", "/revoke"))]
    db.session.rollback()
    [message] = [m for m in deliver() if m["to"] == [world.a.user.email]]
    link_body = body_of(message["message"])
    access = log.read_text(errors="replace")
    record_figure("confianza: Host evil.example en recuperar (gunicorn)",
                  f"{forged.status_code}; enlace en {PUBLIC}: {PUBLIC + '/cuenta/restablecer/' in link_body}",
                  "303; el enlace usa PORTAL_URL")
    record_figure("confianza: etiqueta de Host de 64 caracteres (gunicorn)", long_label.status_code, "400 en español")
    record_figure("confianza: clave de prepago en /api/v1/keys/… (registro de acceso)",
                  f"{access.count(code)} apariciones; {access.count('/api/v1/keys/[oculto]')} líneas ocultas",
                  "0 apariciones")
    assert forged.status_code == 303
    assert PUBLIC + "/cuenta/restablecer/" in link_body and "evil.example" not in link_body
    assert long_label.status_code == 400 and "Solicitud no válida" in long_label.text
    assert [r.status_code < 500 for r in api] == [True] * 3
    assert code not in access and access.count("/api/v1/keys/[oculto]") == 3


@pytest.mark.multiprocess
@pytest.mark.stress
def test_sixteen_wrong_passwords_four_at_a_time_through_four_processes_check_at_most_five(app, world):
    redis_or_skip()
    config = server_config(app, RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX="confianza-" + uuid.uuid4().hex)
    email = world.a.user.email
    with gunicorn(config, workers=4) as base:
        def attempt(n):
            return requests.post(base + "/cuenta/ingresar", data={"email": email, "password": f"adivinanza-{n}"},
                                 allow_redirects=False, timeout=60).status_code

        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(attempt, range(16)))
    db.session.rollback()
    checked = db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "sign_in_failed"))
    record_figure("confianza: 16 contraseñas erróneas, 4 a la vez, 4 procesos",
                  f"comprobadas {checked} ({statuses.count(422)} 422, {statuses.count(429)} 429)", "como máximo 5")
    assert checked == statuses.count(422) <= 5 and statuses.count(429) == 16 - checked


def _sign_in(client, email, password, ip):
    return client.post("/cuenta/ingresar", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": ip}).status_code


def test_nobody_else_can_lock_the_owner_out(client, world, mailbox):
    email, home = world.a.user.email, "192.0.2.10"
    assert _sign_in(client, email, factories.PASSWORD, home) == 303  # the owner's own address, once
    client.post("/cuenta/salir")
    # Attackers from 30 addresses, 5 guesses each: each address is stopped after 5 on this account,
    # and past the account's ceiling (10) every other address is slowed to one guess.
    statuses = [_sign_in(client, email, f"adivinanza-{n}", f"203.0.113.{n // 5}") for n in range(150)]
    fresh = _sign_in(client, email, factories.PASSWORD, "198.51.100.200")
    client.post("/cuenta/salir")
    owner = _sign_in(client, email, factories.PASSWORD, home)
    client.post("/cuenta/salir")
    reset = client.post("/cuenta/recuperar", data={"email": email}, environ_base={"REMOTE_ADDR": home})
    record_figure("confianza: 150 contraseñas erróneas desde 30 direcciones contra una cuenta",
                  f"comprobadas {statuses.count(422)}; dirección nueva con la contraseña después: {fresh}; "
                  f"la dueña desde la suya: {owner}; recuperar: {reset.status_code}",
                  "10 y una por dirección más; la dueña entra (303) desde cualquier dirección y puede recuperar (303)")
    assert statuses.count(422) == 10 + 28 and statuses.count(429) == 150 - 38
    assert fresh == 303 and owner == 303 and reset.status_code == 303
    assert any(m["to"] == [email] for m in mailbox())


def test_five_failures_from_one_address_do_not_lock_the_account_elsewhere(client, world):
    email = world.a.user.email
    assert [_sign_in(client, email, "adivinanza", "203.0.113.50") for _ in range(6)] == [422] * 5 + [429]
    assert _sign_in(client, email, factories.PASSWORD, "198.51.100.60") == 303


@pytest.mark.parametrize("path", ["/cuenta/ingresar", "/cuenta/recuperar", "/claves-prepago/activar"])
def test_a_file_sent_to_a_text_form_is_a_spanish_400(client, world, login, path):
    login(world.a.user)
    response = client.post(path, content_type="multipart/form-data", data={
        "email": (io.BytesIO(b"no soy un correo"), "correo.txt"), "keys": (io.BytesIO(b"x"), "claves.txt"),
        "password": "x"})
    assert response.status_code == 400
    assert "Este formulario no admite archivos" in response.get_data(as_text=True)
