"""Trust, round three (issue 31): the findings of the third assessment, each reproduced.

Each finding has a test that fails on the build the assessment ran against (the validation race on
PostgreSQL, most runs: SQLite serialises those requests), beside a few that show what still works
(a search within its time, a key's code found once in a desk); the figures table gains their rows.
"""
import base64
import json
import logging
from hashlib import sha256
import sys
import time
from datetime import timedelta
from concurrent.futures import ThreadPoolExecutor
import re
import re._parser as sre_parse

import pyotp
import pytest
import requests
from sqlalchemy import event, func, insert, select, text

from portal import ConfigError, clock, create_app, key_codes
from portal.auth import two_factor
from portal.backoffice.schemas import STAMP_USE_PREFIX
from portal.extensions import db
from portal.sealed import unseal
from portal.limits import LIMITS
from portal.models.prepaid import code_digest
from portal.models import AuditEvent, Client, DeskIdentityProvider, OutboxMessage, Desk, Membership, PrepaidKey, Product, Service, StampMovement, User
from tests import factories
from tests.abuse_helpers import record_figure
from tests.api_support import ApiClient, token
from tests.clock_helpers import TIMEZONE
from tests.conftest import body_of
from tests.prepaid_helpers import confirm, gunicorn, server_config, signed_in_cookies, step_token, validate
from tests.two_factor_helpers import enrol, next_code

pytestmark = pytest.mark.abuse  # the fault and abuse suite (docs/TESTING.md)

HUGE = "9" * 4301  # one digit past what int() reads at all


# --- 5: every number read with a bound before int() ---------------------------------------------

def test_numbers_of_4301_digits_are_refused_in_spanish_not_a_500(client, world, login):
    factories.service(world.a.desk)
    login(world.a.user)
    answers = {
        "Notificaciones threshold": client.post("/perfil/notificaciones", data={
            "payments": "y", "low_stamps": "y", "threshold": HUGE}),
        "Actividad page": client.get(f"/perfil/actividad?page={HUGE}"),
        "aviso claves": client.get(f"/claves-prepago/activar/aviso?claves={HUGE}"),
        "Claves resaltar": client.get(f"/claves-prepago?resaltar={HUGE}"),
        "cuadrícula page": client.get(f"/servicios/suscripciones?page={HUGE}&per_page={HUGE}"),
        "cuadrícula número": client.get(f"/servicios/suscripciones?usuarios_min={HUGE}"),
        "escritorio": client.post("/escritorio", data={"desk_id": HUGE}),
    }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    record_figure("confianza 3: números de 4,301 dígitos en 7 parámetros", statuses, "ningún 5xx")
    assert statuses == {"Notificaciones threshold": 422, "Actividad page": 400, "aviso claves": 404,
                        "Claves resaltar": 200, "cuadrícula page": 200, "cuadrícula número": 200, "escritorio": 400}
    assert "Captura un número entero de timbres" in answers["Notificaciones threshold"].get_data(as_text=True)
    assert "La página solicitada no es válida." in answers["Actividad page"].get_data(as_text=True)
    grid = answers["cuadrícula page"].get_data(as_text=True)
    assert "no es válida; se muestra la página 1." in grid and "no es un número de filas por página válido" in grid
    assert "Selecciona un escritorio válido." in answers["escritorio"].get_data(as_text=True)


# --- 6: the API's cursor validated --------------------------------------------------------------

def _cursor(row_id):
    raw = json.dumps(["2026-01-10T14:00:00+00:00", row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_cursor_past_integer_is_a_422_json_on_each_database(app, client):
    api = ApiClient(client, token())
    answers = {row_id: api.get(f"/desks?cursor={_cursor(row_id)}") for row_id in (2**31, 2**63, 0, -1)}
    record_figure("confianza 3: cursor de la API con id 2³¹, 2⁶³, 0, -1",
                  {n: r.status_code for n, r in answers.items()}, "422 JSON")
    for answer in answers.values():
        assert answer.status_code == 422
        assert "cursor" in answer.json["error"]["fields"]
    assert api.get(f"/desks?cursor={_cursor(2**31 - 1)}").status_code == 200
    db.session.rollback()


# --- 7: every string of the API's schemas fits its column ---------------------------------------

# Where each string the back office sends is stored: (column, what the portal adds before it).
STORED_IN = {
    ("DeskUserInput", "email"): (User.email, ""), ("DeskUserInput", "name"): (User.name, ""),
    ("DeskUserInput", "phone"): (User.phone, ""), ("DeskUserInput", "role"): (Membership.role, ""),
    ("DeskInput", "razon_social"): (Desk.razon_social, ""), ("DeskInput", "kind"): (Desk.kind, ""),
    ("ServiceInput", "desk_rfc"): (Desk.rfc, ""), ("ServiceInput", "category"): (Service.category, ""),
    ("ServiceInput", "product"): (Product.code, ""), ("ServiceInput", "name"): (Service.name, ""),
    ("ServiceInput", "version"): (Service.version, ""), ("ServiceInput", "cda"): (Service.cda, ""),
    ("ServiceInput", "acquisition"): (Service.acquisition, ""), ("ServiceInput", "plan"): (Service.plan, ""),
    ("ServiceInput", "capacity"): (Service.capacity, ""), ("ServiceInput", "status"): (Service.status, ""),
    ("KeyBatchInput", "unit"): (PrepaidKey.unit, ""), ("KeyBatchInput", "product"): (Product.code, ""),
    ("KeyBatchInput", "reference"): (PrepaidKey.batch, ""),
    ("AssignmentInput", "rfc"): (Client.rfc, ""), ("AssignmentInput", "razon_social"): (Client.razon_social, ""),
    ("StampUseInput", "external_id"): (StampMovement.external_id, STAMP_USE_PREFIX),
    ("StampUseInput", "note"): (StampMovement.note, ""),
    ("DeskSsoInput", "issuer"): (DeskIdentityProvider.issuer, ""),
    ("DeskSsoInput", "client_id"): (DeskIdentityProvider.client_id, ""),
    ("DeskSsoInput", "client_secret"): (DeskIdentityProvider.client_secret_encrypted, ""),
}
# Path parameters, stored as they are (a key's code without its dashes).
PATH_STORED_IN = {"rfc": (Desk.rfc, 0), "serial": (Service.serial, 0), "code": (PrepaidKey.shown_code, 3)}


def _longest(schema):
    """The most characters a string schema admits: maxLength, the longest enum value or pattern match."""
    if "enum" in schema:
        return max(len(value) for value in schema["enum"] if isinstance(value, str))
    if "maxLength" in schema:
        return schema["maxLength"]
    low, high = sre_parse.parse(schema["pattern"]).getwidth()
    return high


def _admits_text(schema):
    if schema.get("format") == "date":
        return False  # stored in a DATE column
    types = schema.get("type", [])
    return "string" in (types if isinstance(types, list) else [types]) or any(
        isinstance(value, str) for value in schema.get("enum", []))


def test_every_string_of_the_openapi_document_fits_its_column_exactly(client):
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    compared, wrong = [], []
    for name, schema in schemas.items():
        if not name.endswith("Input"):
            continue
        for field, property_ in schema["properties"].items():
            if not _admits_text(property_):
                continue
            assert (name, field) in STORED_IN, f"{name}.{field}: ¿en qué columna se guarda?"
            column, prefix = STORED_IN[name, field]
            # A sealed column (portal/sealed.py) holds the clear text's length encrypted.
            length = getattr(column.type, "plain_length", None) or column.type.length
            longest = _longest(property_) + len(prefix)
            compared.append(f"{name}.{field}")
            if length is not None and ("enum" not in property_ and longest != length or longest > length):
                wrong.append(f"{name}.{field}: {longest} en el esquema, {length} en la columna")
    parameters = {p["name"]: p for item in document["paths"].values() for p in item.get("parameters", [])}
    for name, (column, dashes) in PATH_STORED_IN.items():
        longest = _longest(parameters[name]["schema"]) - dashes
        compared.append(name)
        if longest != column.type.length:
            wrong.append(f"{name}: {longest} en la ruta, {column.type.length} en la columna")
    record_figure(f"confianza 3: {len(compared)} textos del documento OpenAPI contra sus columnas",
                  f"{len(wrong)} distintos", "0")
    assert wrong == []


def test_an_external_id_of_77_to_80_characters_is_a_422_not_a_500(app, client, world):
    api = ApiClient(client, token())
    rfc = world.a.desk.rfc
    answers = [api.post(f"/desks/{rfc}/stamp-use", json={"external_id": "x" * n, "quantity": 1}) for n in (76, 77, 80)]
    assert [a.status_code for a in answers] == [201, 422, 422]
    assert answers[1].json["error"]["fields"] == {"external_id": "Debe tener como máximo 76 caracteres."}
    db.session.rollback()


# --- 8: Actividad's CSV streamed inside the app context ------------------------------------------

def _signed_in_over_http(server, user):
    """A requests session signed in to `server` (CSRF on, as in production) and its CSRF token."""
    browser = requests.Session()
    form = browser.get(server.url("/cuenta/ingresar"), timeout=30).text
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    signed_in = browser.post(server.url("/cuenta/ingresar"), timeout=30, allow_redirects=False, data={
        "csrf_token": csrf, "email": user.email, "password": factories.PASSWORD})
    assert signed_in.status_code == 303
    # Signing in starts a new session, with its own token.
    page = browser.get(server.url("/perfil"), timeout=30).text
    return browser, re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def test_the_whole_actividad_csv_is_sent_after_its_header(live_server, world):
    browser, _csrf = _signed_in_over_http(live_server, world.a.user)
    # Over HTTP: the server sends the body after the view has returned.
    response = browser.get(live_server.url("/perfil/actividad?formato=csv"), timeout=30)
    body = response.content.decode("utf-8-sig")
    lines = body.splitlines()
    record_figure("confianza 3: CSV de Actividad leído entero por HTTP", f"{len(lines)} líneas", "encabezado y filas")
    assert response.status_code == 200
    assert len(lines) >= 2 and "Inicio de sesión" in body
    assert clock.today(TIMEZONE).strftime("%d/%m/%Y") in lines[1]


# --- 12: the services list against its own schema ------------------------------------------------

def test_a_service_without_a_serial_is_listed_as_its_schema_says(app, client, world):
    factories.service(world.a.desk, category="sellado-cfdi", product_code="SAE", serial=None, cda=None,
                      acquisition=None, name="Sellado CFDI 4.0")
    api = ApiClient(client, token())
    listed = api.get("/services")  # checked against the document by ApiClient
    record_figure("confianza 3: GET /api/v1/services con un servicio sin serie", listed.status_code,
                  "200 conforme a su esquema")
    assert [item["serial"] for item in listed.json["items"]] == [None]
    db.session.rollback()


def test_racing_validations_look_up_no_more_wrong_keys_than_the_limit(live_server, world):
    allowed = int(LIMITS["prepaid_validation"].rate.split("/")[0])
    own = [factories.prepaid_key(world.a.desk).code for _ in range(3)]  # found, so never counted
    browser, csrf = _signed_in_over_http(live_server, world.a.user)

    def validate(typed):
        return browser.post(live_server.url("/claves-prepago/activar"), timeout=60, headers={"HX-Request": "true"},
                            data={"csrf_token": csrf, "keys": "\n".join(typed)}).status_code

    first = [validate([key_codes.generate()]) for _ in range(allowed - 1)]  # one failure left
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads interleave as often as they can: the server's too
    try:
        with ThreadPoolExecutor(16) as pool:
            # The desk's own keys first: each request is long between its start and its wrong key.
            statuses = list(pool.map(validate, [own + [key_codes.generate()] for _ in range(16)]))
    finally:
        sys.setswitchinterval(switching)
    db.session.rollback()
    looked_up = db.session.scalar(select(func.count()).select_from(AuditEvent)
                                  .where(AuditEvent.event == "prepaid_key_validation_failed"))
    record_figure(f"confianza 3: {allowed - 1} validaciones fallidas, luego 16 a la vez",
                  f"{looked_up} claves buscadas y fallidas; {sorted(set(statuses))}", f"como máximo {allowed}")
    assert first == [422] * (allowed - 1) and looked_up <= allowed
    assert set(statuses) <= {422, 429} and 429 in statuses


# --- 10: Secure on every cookie when PORTAL_URL is https -----------------------------------------

HTTPS_PRODUCTION = {"PORTAL_ENV": "production", "SECRET_KEY": "x" * 40, "PORTAL_URL": "https://intranet.example.mx/portal",
                    "TRUSTED_HOSTS": ["intranet.example.mx", "localhost"]}


def test_every_cookie_is_secure_in_production_over_https(app, world, monkeypatch):
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    production = create_app({**{k: v for k, v in app.config.items() if k.isupper() and k not in {
        "SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE", "PORTAL_ENV", "PRODUCTION", "SQLALCHEMY_ENGINE_OPTIONS"}},
        **HTTPS_PRODUCTION})
    client = production.test_client()
    response = client.post("/cuenta/ingresar", base_url="https://localhost", data={
        "email": world.a.user.email, "password": factories.PASSWORD, "remember": "y"})
    cookies = response.headers.getlist("Set-Cookie")
    names = sorted(cookie.split("=", 1)[0] for cookie in cookies)
    record_figure("confianza 3: cookies en producción con PORTAL_URL https", names, "todas con Secure")
    assert response.status_code == 303 and {"session", "remember_token"} <= set(names)
    assert all("; Secure" in cookie for cookie in cookies)


def test_production_refuses_an_https_portal_with_cookies_not_secure(tmp_path):
    with pytest.raises(ConfigError, match="SESSION_COOKIE_SECURE=0 con PORTAL_URL en https"):
        create_app({**HTTPS_PRODUCTION, "INSTANCE_PATH": str(tmp_path), "SESSION_COOKIE_SECURE": False})
    assert create_app({**HTTPS_PRODUCTION, "INSTANCE_PATH": str(tmp_path), "PORTAL_URL": "http://intranet.example.mx",
                       "SESSION_COOKIE_SECURE": False}).config["SESSION_COOKIE_SECURE"] is False


# --- 3: a desk's requirement changed only with the password and a code ---------------------------

def test_a_desks_requirement_changes_only_with_the_password_and_a_code(client, world, login):
    login(world.a.user)
    secret, codes = enrol(client)
    desk, prefix = world.a.desk, f"desk{world.a.desk.id}"
    url = f"/perfil/dos-pasos/escritorio/{desk.id}"
    on = client.post(url, data={f"{prefix}-require": "y", f"{prefix}-current_password": factories.PASSWORD,
                                f"{prefix}-code": next_code(secret)})
    assert on.status_code == 303
    attempts = {
        "solo el token": client.post(url, data={}),
        "contraseña sin código": client.post(url, data={f"{prefix}-current_password": factories.PASSWORD}),
        "contraseña errónea": client.post(url, data={f"{prefix}-current_password": "otra-cosa-123",
                                                     f"{prefix}-code": codes[0]}),
        "código erróneo": client.post(url, data={f"{prefix}-current_password": factories.PASSWORD,
                                                 f"{prefix}-code": "000000"}),
    }
    statuses = {name: answer.status_code for name, answer in attempts.items()}
    db.session.expire_all()
    still = db.session.get(Desk, desk.id).require_two_factor
    record_figure("confianza 3: quitar la exigencia de dos pasos de un escritorio sin prueba", statuses,
                  "422 en español; la exigencia sigue")
    assert statuses == dict.fromkeys(attempts, 422) and still is True
    texts = {name: answer.get_data(as_text=True) for name, answer in attempts.items()}
    assert "Captura el código de 6 dígitos de tu aplicación." in texts["contraseña sin código"]
    assert "El código de verificación no es correcto o ya se usó." in texts["código erróneo"]
    assert "La contraseña actual no es correcta." in texts["contraseña errónea"]
    off = client.post(url, data={f"{prefix}-current_password": factories.PASSWORD, f"{prefix}-code": codes[1]})
    db.session.expire_all()
    assert off.status_code == 303 and db.session.get(Desk, desk.id).require_two_factor is False


# --- 2 and 4: failure limits that never lock the owner out from a new address --------------------

def _sign_in_from(client, email, password, ip):
    return client.post("/cuenta/ingresar", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": ip}).status_code


def test_past_the_accounts_ceiling_a_new_address_is_slowed_not_locked_out(client, world):
    email = world.a.user.email
    # Ten wrong passwords from ten addresses spend the account's ceiling.
    spent = [_sign_in_from(client, email, f"adivinanza-{n}", f"203.0.113.{n}") for n in range(10)]
    # Every other address is slowed to one guess per window…
    slowed = [_sign_in_from(client, email, "adivinanza", "203.0.113.77") for _ in range(3)]
    # …and the owner, from an address they never used, with the right password, gets in.
    owner = _sign_in_from(client, email, factories.PASSWORD, "198.51.100.23")
    record_figure("confianza 3: la dueña desde una dirección nueva tras 10 contraseñas erróneas de otras",
                  f"{owner}; otra dirección: {slowed}", "303; una conjetura por dirección (422, 429, 429)")
    assert spent == [422] * 10 and slowed == [422, 429, 429] and owner == 303


def _password_and_code(client, user, code, ip):
    client.post("/cuenta/ingresar", data={"email": user.email, "password": factories.PASSWORD},
                environ_base={"REMOTE_ADDR": ip})
    return client.post("/cuenta/verificacion", data={"code": code}, environ_base={"REMOTE_ADDR": ip}).status_code


def test_five_wrong_codes_from_elsewhere_do_not_lock_the_right_code_out(client, world, login):
    user = world.a.user
    login(user)
    secret, codes = enrol(client)
    client.post("/cuenta/salir")
    good = next_code(secret)
    wrong = f"{(int(good) + 7) % 1000000:06d}"
    elsewhere = [_password_and_code(client, user, wrong, f"203.0.113.{n}") for n in range(5)]
    again = _password_and_code(client, user, wrong, "203.0.113.0")  # an address that already guessed
    owner = _password_and_code(client, user, good, "198.51.100.31")
    signed_in = client.get("/perfil").status_code
    client.post("/cuenta/salir")
    recovery = _password_and_code(client, user, codes[0], "198.51.100.32")
    record_figure("confianza 3: el código correcto desde una sexta dirección tras 5 erróneos de otras",
                  f"{owner} (recuperación: {recovery}); de nuevo desde una usada: {again}", "303; 429")
    assert elsewhere == [422] * 5 and again == 429
    assert owner == 303 and signed_in == 200 and recovery == 303


def test_resets_past_the_recipients_ceiling_are_answered_alike_without_a_mail(client, world):
    email = world.a.user.email

    def reset(ip):
        response = client.post("/cuenta/recuperar", data={"email": email}, environ_base={"REMOTE_ADDR": ip})
        return response.status_code, response.headers.get("Location")

    answers = [reset(f"203.0.113.{n}") for n in range(10)]
    queued = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    beyond = [reset(f"203.0.113.{n}") for n in range(100, 103)]
    owner_new = reset("198.51.100.44")
    db.session.rollback()
    after = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    record_figure("confianza 3: solicitudes de restablecer más allá del límite del destinatario",
                  f"{len(set(answers + beyond + [owner_new]))} respuesta distinta; correos {queued} → {after}",
                  "la misma respuesta (303), sin correo")
    assert set(answers + beyond + [owner_new]) == {(303, "/cuenta/recuperar/enviado")}
    assert queued == 10 and after == 10


# --- 9: a reset answered in constant work ------------------------------------------------------

def test_a_reset_does_the_same_database_work_for_an_existing_and_an_unknown_address(app, client, world):
    def statements_of(email):
        seen = []

        def keep(_conn, _cursor, statement, _parameters, _context, _many):
            seen.append(" ".join(statement.split()))

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", keep)
        try:
            response = client.post("/cuenta/recuperar", data={"email": email},
                                   environ_base={"REMOTE_ADDR": f"192.0.2.{len(email)}"})
        finally:
            event.remove(engine, "before_cursor_execute", keep)
        assert response.status_code == 303
        return seen

    existing = statements_of(world.a.user.email)
    unknown = statements_of("nadie-" + world.a.user.email)
    record_figure("confianza 3: sentencias al pedir restablecer (correo existente y desconocido)",
                  f"{len(existing)} y {len(unknown)}; iguales: {existing == unknown}", "las mismas")
    assert existing == unknown


# --- 1: every grid read bounded in time --------------------------------------------------------

SLOW_SEARCH = "/claves-prepago?desde=2000-01-01&hasta=2099-12-31&group=cliente&q=zzzz"


def _many_keys(desk, clients=300, keys=3000):
    """A moderately sized distributor's desk: `keys` used keys spread over `clients` clients."""
    today = factories.today()
    db.session.execute(insert(Client), [
        {"desk_id": desk.id, "rfc": f"CLI{n:06d}AB1", "razon_social": f"Cliente número {n}",
         "search_text": f"cliente numero {n}"} for n in range(clients)])
    ids = db.session.scalars(select(Client.id).where(Client.desk_id == desk.id)).all()
    codes = [key_codes.generate() for _ in range(keys)]
    db.session.execute(insert(PrepaidKey), [
        {"shown_code": codes[n], "code_digest": code_digest(codes[n]), "quantity": 50, "unit": "Timbres", "status": "utilizada",
         "desk_id": desk.id, "destination": "distribuidor", "confirmed_on": today - timedelta(days=n % 300),
         "activated_on": today - timedelta(days=n % 300), "client_id": ids[n % len(ids)]} for n in range(keys)])
    db.session.commit()


@pytest.mark.app_config(STATEMENT_TIMEOUT_SECONDS=0.001)
def test_a_grid_read_past_its_time_answers_in_spanish_to_narrow_it(client, world, login, hx):
    _many_keys(world.a.desk)
    login(world.a.user)
    page, fragment = client.get(SLOW_SEARCH), client.get(SLOW_SEARCH, headers=hx)
    saved = client.post("/perfil/notificaciones", data={"payments": "y", "threshold": "10"})  # writes are not bounded
    record_figure("confianza 3: búsqueda agrupada lenta con un límite de 1 ms por sentencia",
                  f"página {page.status_code}, htmx {fragment.status_code}; escritura {saved.status_code}",
                  "503 con mensaje en español, nunca el tiempo del worker")
    for answer in (page, fragment):
        assert answer.status_code == 503
        assert "La consulta tardó demasiado y se detuvo. Acota la búsqueda" in answer.get_data(as_text=True)
    assert fragment.headers["HX-Retarget"] == "#page-messages"
    assert saved.status_code == 303


@pytest.mark.app_config(STATEMENT_TIMEOUT_SECONDS=0.2)
def test_a_walk_over_thousands_of_small_groups_is_bounded_as_a_whole(client, world, login, caplog):
    """Each statement of a grouped walk keeps well within the bound; thousands of them (a client per
    group, none matching the search) did not: the read as a whole answers 503 too."""
    _many_keys(world.a.desk, clients=5000, keys=5000)
    login(world.a.user)
    with caplog.at_level(logging.WARNING, logger="portal.errors"):
        started = time.monotonic()
        answer = client.get(SLOW_SEARCH)
        took = time.monotonic() - started
    record_figure("confianza 3: búsqueda agrupada por cliente sin coincidencias, 5,000 clientes, límite de 0.2 s",
                  f"{answer.status_code} en {took:.1f} s", "503 en español: la lectura entera acotada")
    assert answer.status_code == 503 and "Acota la búsqueda" in answer.get_data(as_text=True)
    assert "una lectura de varias sentencias" in caplog.text


def test_the_same_search_within_its_time_is_answered(client, world, login):
    _many_keys(world.a.desk, clients=30, keys=300)
    login(world.a.user)
    assert client.get(SLOW_SEARCH).status_code == 200


# --- 11: CDAs and unconfirmed key codes encrypted at rest ----------------------------------------

def _raw(table, column, row_id):
    return db.session.execute(text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": row_id}).scalar()


def test_a_cda_is_stored_encrypted_and_still_mailed_in_clear(client, world, login, deliver):
    service = factories.service(world.a.desk, cda="CDA-CLARO-0123456789")
    stored = _raw("services", "cda", service.id)
    login(world.a.user)
    sent = client.post(f"/servicios/{service.serial}/reenviar-cda")
    [mail] = [m for m in deliver() if m["to"] == [world.a.user.email]]
    record_figure("confianza 3: CDA en la base de datos", f"en claro: {'CDA-CLARO' in stored}", "cifrado")
    assert "CDA-CLARO" not in stored and unseal("cda", stored) == "CDA-CLARO-0123456789"
    assert sent.status_code == 303 and "CDA-CLARO-0123456789" in body_of(mail["message"])


def test_migration_0007_encrypts_the_cdas_and_the_codes_of_keys_in_no_desk_already_stored(tmp_path):
    from flask_migrate import upgrade

    url = f"sqlite:///{tmp_path / 'antes.db'}"
    old = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "migracion-0007", "INSTANCE_PATH": str(tmp_path)})
    with old.app_context():
        upgrade(revision="0003")
        db.session.execute(text("INSERT INTO desks (id, razon_social, rfc, kind, require_two_factor, created_at, "
                                "updated_at) VALUES (1, 'Uno', 'AAA010101AA1', 'cliente', false, CURRENT_TIMESTAMP, "
                                "CURRENT_TIMESTAMP)"))
        db.session.execute(text("INSERT INTO services (id, desk_id, category, name, serial, cda, status, search_text, "
                                "created_at, updated_at) VALUES (1, 1, 'suscripciones', 'SAE', 'SAE1', 'CDA-VIEJO-1', "
                                "'activo', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        for key_id, code, desk, status in ((1, "ABCDEFGHJKMNPQR0", "NULL", "nueva"),
                                           (2, "ABCDEFGHJKMNPQR1", "1", "disponible")):
            db.session.execute(text(
                "INSERT INTO prepaid_keys (id, code, quantity, unit, status, desk_id, destination, confirmed_on, "
                f"created_at, updated_at) VALUES ({key_id}, '{code}', 50, 'Timbres', '{status}', {desk}, "
                f"{'NULL' if desk == 'NULL' else repr('distribuidor')}, "
                f"{'NULL' if desk == 'NULL' else 'CURRENT_DATE'}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        db.session.commit()
        upgrade()
        new, in_desk = _key_row(1), _key_row(2)
        assert new.code is None and unseal("key_code", new.sealed_code) == "ABCDEFGHJKMNPQR0"
        assert (in_desk.code, in_desk.sealed_code) == ("ABCDEFGHJKMNPQR1", None)
        assert [new.code_digest, in_desk.code_digest] == [code_digest("ABCDEFGHJKMNPQR0"), code_digest("ABCDEFGHJKMNPQR1")]
        assert db.session.get(PrepaidKey, 1).code == "ABCDEFGHJKMNPQR0"
        stored = _raw("services", "cda", 1)
        assert stored != "CDA-VIEJO-1" and unseal("cda", stored) == "CDA-VIEJO-1"
        assert db.session.get(Service, 1).cda == "CDA-VIEJO-1"
        db.session.remove()
        db.engine.dispose()


def _key_row(key_id):
    return db.session.execute(text("SELECT code, sealed_code, code_digest FROM prepaid_keys WHERE id = :id"),
                              {"id": key_id}).one()


def test_a_key_in_no_desk_keeps_its_code_only_encrypted_and_is_still_confirmed_by_it(client, world, login):
    key = factories.prepaid_key()
    code = key.code
    before = _key_row(key.id)
    login(world.a.user)
    token = step_token(validate(client, code, follow=True).get_data(as_text=True))
    confirmed = confirm(client, token, destination="distribuidor")
    db.session.expire_all()
    after = _key_row(key.id)
    listed = client.get("/claves-prepago", query_string={"q": code[:6]}).get_data(as_text=True)
    record_figure("confianza 3: código de una clave sin escritorio en la base de datos",
                  f"en claro: {code in str(tuple(before))}; tras confirmarla, en su escritorio: {after.code == code}",
                  "sólo cifrado y su resumen con clave; en claro una vez en un escritorio")
    assert before.code is None and code not in before.sealed_code and unseal("key_code", before.sealed_code) == code
    assert before.code_digest == code_digest(code) != sha256(code.encode()).hexdigest()
    assert confirmed.status_code == 303
    assert after.code == code and after.sealed_code is None
    assert key_codes.grouped(code) in listed  # the desk's grid still finds it by part of its code


# --- over HTTP against gunicorn: addresses through a trusted proxy, a statement past its time ------

@pytest.mark.multiprocess
def test_under_gunicorn_the_owner_gets_in_from_a_new_address_and_resets_are_answered_alike(app, world):
    email = world.a.user.email
    config = server_config(app, PROXY_COUNT=1)
    with gunicorn(config, workers=1) as base:
        def sign_in(password, ip):
            return requests.post(base + "/cuenta/ingresar", data={"email": email, "password": password},
                                 headers={"X-Forwarded-For": ip}, allow_redirects=False, timeout=30).status_code

        def reset(ip):
            answer = requests.post(base + "/cuenta/recuperar", data={"email": email}, headers={"X-Forwarded-For": ip},
                                   allow_redirects=False, timeout=30)
            return answer.status_code, answer.headers.get("Location")

        wrong = [sign_in(f"adivinanza-{n}", f"203.0.113.{n // 5}") for n in range(20)]
        owner = sign_in(factories.PASSWORD, "198.51.100.77")
        resets = {reset(f"203.0.113.{100 + n}") for n in range(12)} | {reset("198.51.100.78")}
    db.session.rollback()
    mails = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.recipient == email))
    record_figure("confianza 3: gunicorn, 20 contraseñas erróneas desde 4 direcciones y 13 solicitudes de restablecer",
                  f"la dueña desde una dirección nueva: {owner}; respuestas a restablecer: {sorted(resets)}; "
                  f"correos {mails}", "303; una sola respuesta (303); 10 correos")
    assert wrong.count(422) == 10 + 2 and owner == 303
    assert resets == {(303, "/cuenta/recuperar/enviado")} and mails == 10


@pytest.mark.multiprocess
def test_under_gunicorn_a_search_past_its_time_is_a_503_and_the_worker_lives_on(app, world):
    _many_keys(world.a.desk)
    config = server_config(app, STATEMENT_TIMEOUT_SECONDS=0.001)
    with gunicorn(config, workers=1) as base:
        browser = requests.Session()
        browser.cookies.update(signed_in_cookies(app, world.a.user, world.a.desk))
        started = time.monotonic()
        slow = browser.get(base + SLOW_SEARCH, timeout=60)
        took = time.monotonic() - started
        alive = requests.get(base + "/healthz", timeout=30).status_code
    record_figure("confianza 3: gunicorn, búsqueda agrupada con un límite de 1 ms por sentencia",
                  f"{slow.status_code} en {took:.1f} s; el worker sigue: {alive}", "503 en español, sin WORKER TIMEOUT")
    assert slow.status_code == 503 and "Acota la búsqueda" in slow.text
    assert took < 10 and alive == 200


@pytest.mark.multiprocess
def test_under_gunicorn_five_wrong_codes_from_elsewhere_leave_the_right_code_from_a_sixth_address(app, world):
    user = world.a.user
    secret = two_factor.start_enrolment(user)
    two_factor.confirm_enrolment(user, factories.PASSWORD, pyotp.TOTP(secret).at(clock.timestamp()))
    db.session.commit()
    good = next_code(secret)
    wrong = f"{(int(good) + 7) % 1000000:06d}"
    with gunicorn(server_config(app, PROXY_COUNT=1), workers=1) as base:
        def attempt(code, ip):
            person = requests.Session()
            person.headers["X-Forwarded-For"] = ip
            person.post(base + "/cuenta/ingresar", data={"email": user.email, "password": factories.PASSWORD},
                        allow_redirects=False, timeout=30)
            return person.post(base + "/cuenta/verificacion", data={"code": code}, allow_redirects=False,
                               timeout=30).status_code

        elsewhere = [attempt(wrong, f"203.0.113.{n}") for n in range(5)]
        owner = attempt(good, "198.51.100.90")
    record_figure("confianza 3: gunicorn, el código correcto desde una sexta dirección tras 5 erróneos",
                  f"{elsewhere} y luego {owner}", "422 ×5, luego 303")
    assert elsewhere == [422] * 5 and owner == 303
