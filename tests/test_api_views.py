"""/api/v1 through the test client, on each database; every answer is checked against /api/v1/openapi.json."""
import json
import re
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select

from portal.auth.passwords import hash_password
from portal.backoffice.tokens import revoke_token
from portal.extensions import db
from portal.models import AuditEvent, Desk, Membership, OutboxMessage, PrepaidKey, Service, StampMovement, User
from portal import key_codes
from tests import factories
from tests.api_support import ApiClient, token
from tests.conftest import body_of


@pytest.fixture
def api(app, client):
    return ApiClient(client, token())


def desk_body(**extra):
    return {"razon_social": "Comercializadora del Bajío S.A. de C.V.", "kind": "distribuidor",
            "users": [{"email": "Laura.Mendez@Bajio.com.mx", "name": "Laura Méndez", "phone": "477 123 4567",
                       "role": "owner"}], **extra}


def service_body(desk, **extra):
    return {"desk_rfc": desk.rfc, "category": "suscripciones", "product": "SAE", "version": "9.0", "users": 5,
            "cda": "CDA-SECRETO-123456", "acquisition": "electronica", "activated_on": "2025-03-14",
            "next_payment_on": "2026-12-14", **extra}


# --- the document and authentication ------------------------------------------------------------

def test_openapi_document_is_public_and_describes_every_route(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "/api/v1"}]
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    documented = {(method.upper(), path) for path, item in document["paths"].items()
                  for method in item if method != "parameters"}
    routed = {(method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1")))
              for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == routed
    assert len({op["operationId"] for item in document["paths"].values()
                for method, op in item.items() if method != "parameters"}) == len(documented)


def test_openapi_document_follows_the_mount_prefix(client):
    document = client.get("/api/v1/openapi.json", base_url="http://intranet.example/portal").get_json()
    assert document["servers"] == [{"url": "/portal/api/v1"}]


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer esk_desconocido", "Basic dXNlcjpwYXNz", "esk_x"])
def test_missing_or_unknown_token_gets_401_json(api, header):
    headers = {"Authorization": header} if header else {}
    response = api.client.get("/api/v1/desks", headers=headers)
    api.openapi.check("GET", "/api/v1/desks", response)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_gets_401_at_once(api):
    assert api.get("/desks").status_code == 200
    revoke_token("billing")
    db.session.commit()
    response = api.get("/desks")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_token_without_the_scope_gets_403_and_nothing_changes(api):
    keys_only = token("keys-only", ["keys:write"])
    response = api.put("/desks/CBA950612K21", desk_body(), secret=keys_only)
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"
    assert "desks:write" in response.json["error"]["message"]
    assert db.session.query(Desk).count() == 0
    assert db.session.query(User).count() == 0


def test_read_scope_reads_everything_and_writes_nothing(api):
    api.put("/desks/CBA950612K21", desk_body())
    reader = token("reader", ["read"])
    assert api.get("/desks/CBA950612K21", secret=reader).status_code == 200
    assert api.get("/desks", secret=reader).status_code == 200
    assert api.get("/desks/CBA950612K21/stamps", secret=reader).status_code == 200
    assert api.put("/desks/CBA950612K21", desk_body(razon_social="Otra"), secret=reader).status_code == 403
    assert api.post("/key-batches", {"count": 1, "quantity": 50}, secret=reader).status_code == 403
    assert db.session.scalar(select(Desk.razon_social)) == "Comercializadora del Bajío S.A. de C.V."


def test_a_signed_in_portal_user_is_not_an_api_caller(api, world, login):
    login(world.a.user)
    response = api.get("/desks", secret=None, headers={"Authorization": ""})
    assert response.status_code == 401


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_the_api_needs_no_csrf_token(api):
    assert api.put("/desks/CBA950612K21", desk_body()).status_code == 201


# --- desks ---------------------------------------------------------------------------------------

def test_put_desk_creates_then_the_same_body_changes_nothing(api):
    first = api.put("/desks/cba-950612-k21", desk_body())
    assert first.status_code == 201
    assert first.json["rfc"] == "CBA950612K21"
    assert first.json["kind"] == "distribuidor"
    assert first.json["users"] == [{"email": "laura.mendez@bajio.com.mx", "name": "Laura Méndez",
                                    "phone": "477 123 4567", "role": "owner"}]
    again = api.put("/desks/CBA950612K21", desk_body())
    assert again.status_code == 200
    assert again.json == first.json  # same updated_at: nothing was written
    assert db.session.query(Desk).count() == 1
    assert db.session.query(Membership).count() == 1
    assert db.session.query(OutboxMessage).count() == 1  # one welcome, not two


def test_put_desk_requires_two_factor_of_its_users_and_keeps_it_when_omitted(api, client):
    assert api.put("/desks/CBA950612K21", desk_body()).json["require_two_factor"] is False
    response = api.put("/desks/CBA950612K21", desk_body(require_two_factor=True))
    assert response.status_code == 200 and response.json["require_two_factor"] is True
    assert api.put("/desks/CBA950612K21", desk_body()).json["require_two_factor"] is True
    assert api.put("/desks/CBA950612K21", desk_body(require_two_factor="si"), check=False).status_code == 422
    # Its user, once signed in, is led to enrol before reaching the desk.
    user = db.session.scalar(select(User).where(User.email == "laura.mendez@bajio.com.mx"))
    user.password_hash = hash_password(factories.PASSWORD)
    db.session.commit()
    client.post("/cuenta/ingresar", data={"email": user.email, "password": factories.PASSWORD})
    landing = client.get("/servicios/suscripciones")
    assert landing.status_code == 303 and landing.headers["Location"].endswith("/perfil/dos-pasos")
    assert api.put("/desks/CBA950612K21", desk_body(require_two_factor=False)).json["require_two_factor"] is False
    assert client.get("/servicios/suscripciones").status_code == 200


def test_put_desk_updates_name_kind_and_roles(api):
    api.put("/desks/CBA950612K21", desk_body())
    before = api.get("/desks/CBA950612K21").json
    body = desk_body(razon_social="Comercializadora del Bajío Norte", kind="cliente")
    body["users"] = [{"email": "laura.mendez@bajio.com.mx", "name": "Laura", "role": "member"},
                     {"email": "pedro@bajio.com.mx", "name": "Pedro Ruiz"}]
    response = api.put("/desks/CBA950612K21", body)
    assert response.status_code == 200
    assert response.json["razon_social"] == "Comercializadora del Bajío Norte"
    assert response.json["kind"] == "cliente"
    assert [(u["email"], u["name"], u["role"]) for u in response.json["users"]] == [
        ("laura.mendez@bajio.com.mx", "Laura Méndez", "member"),  # her name is hers: not overwritten
        ("pedro@bajio.com.mx", "Pedro Ruiz", "member"),
    ]
    assert response.json["updated_at"] > before["updated_at"]


def test_new_owner_gets_the_set_password_email(api, client, deliver):
    api.put("/desks/CBA950612K21", desk_body())
    received = deliver()
    assert len(received) == 1
    message = received[0]["message"]
    assert received[0]["to"] == ["laura.mendez@bajio.com.mx"]
    assert message["Subject"] == "Define tu contraseña del Escritorio de Servicios de Aspel"
    text = body_of(message)
    assert "Hola Laura Méndez:" in text
    assert "Comercializadora del Bajío S.A. de C.V. (RFC CBA950612K21)" in text
    assert "vence en 7 días" in text
    link = re.search(r"http://127\.0\.0\.1:5000(/cuenta/definir/\S+)", text).group(1)  # PORTAL_URL's default
    assert f'href="http://127.0.0.1:5000{link}"' in body_of(message, "html")
    user = db.session.scalar(select(User).where(User.email == "laura.mendez@bajio.com.mx"))
    assert user.password_hash is None  # nobody can sign in as her until she chooses one

    # She follows the link, chooses a password once, and signs in with it.
    assert client.get(link).status_code == 200
    chosen = {"password": "Nopal-de-marzo-77", "password_confirm": "Nopal-de-marzo-77"}
    assert client.post(link, data=chosen).status_code == 303
    assert client.post(link, data=chosen).status_code == 400  # single use
    signed_in = client.post("/cuenta/ingresar", data={"email": "laura.mendez@bajio.com.mx", "password": chosen["password"]})
    assert signed_in.status_code == 303


def test_an_existing_user_joins_a_new_desk_without_an_email(api, world):
    body = desk_body(users=[{"email": world.a.user.email.upper(), "name": "Otro Nombre", "role": "member"}])
    response = api.put("/desks/CBA950612K21", body)
    assert response.status_code == 201
    assert response.json["users"][0]["name"] == world.a.user.name
    assert db.session.query(OutboxMessage).count() == 0
    assert db.session.query(User).count() == 2


def test_desk_errors_name_each_field_and_change_nothing(api):
    body = {"razon_social": "  ", "kind": "socio", "color": "rojo",
            "users": [{"email": "no-es-correo", "name": "Ana"}, {"name": "Sin correo"}]}
    response = api.put("/desks/CBA950612K21", body)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_failed"
    assert error["fields"] == {
        "color": "Campo no permitido.",
        "users[0].email": "Captura un correo electrónico válido.",
        "kind": "Valor no permitido; usa uno de: cliente, distribuidor.",
        "users[1].email": "Campo obligatorio.",
    }
    bad_rfc = api.put("/desks/CBA951332K21", desk_body())
    assert bad_rfc.status_code == 422
    assert bad_rfc.json["error"]["fields"] == {"rfc": "La fecha del RFC (AAMMDD) no es una fecha válida."}
    bad_email = api.put("/desks/CBA950612K21", desk_body(users=[{"email": "ana@sin-dominio", "name": "Ana"}]))
    assert bad_email.json["error"]["fields"] == {"users[0].email": "Captura un correo electrónico válido."}
    blank = api.put("/desks/CBA950612K21", desk_body(razon_social="   "))
    assert blank.json["error"]["fields"] == {"razon_social": "No puede estar vacío."}
    assert db.session.query(Desk).count() == 0 and db.session.query(User).count() == 0


def test_get_desk_and_404s(api):
    api.put("/desks/CBA950612K21", desk_body())
    assert api.get("/desks/cba950612k21").json["razon_social"] == "Comercializadora del Bajío S.A. de C.V."
    for rfc in ("PES120301Q45", "no-es-rfc"):
        response = api.get(f"/desks/{rfc}", check=rfc != "no-es-rfc")
        assert response.status_code == 404
        assert response.json["error"]["code"] == "not_found"


def test_desk_list_pages_with_a_cursor_and_filters_by_updated_since(api):
    start = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)
    made = [factories.desk(razon_social=f"Empresa {n}", updated_at=start + timedelta(hours=n)) for n in range(5)]
    seen, cursor = [], None
    while True:
        response = api.get("/desks?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200
        assert len(response.json["items"]) <= 2
        seen += [item["rfc"] for item in response.json["items"]]
        cursor = response.json["next_cursor"]
        if cursor is None:
            break
    assert seen == [desk.rfc for desk in made]
    since = api.get("/desks?updated_since=2026-01-10T08:00:00-06:00")  # 14:00 UTC
    assert [item["rfc"] for item in since.json["items"]] == [desk.rfc for desk in made[2:]]
    assert since.json["items"][0]["updated_at"] == "2026-01-10T14:00:00.000000Z"


@pytest.mark.parametrize("query, field", [
    ("limit=0", "limit"), ("limit=500", "limit"), ("limit=dos", "limit"), ("cursor=@@@", "cursor"),
    ("updated_since=ayer", "updated_since"), ("updated_since=2026-01-10T08:00:00", "updated_since"),
    ("updated_since=2026-01-10", "updated_since"), ("orden=rfc", "orden"),
])
def test_bad_list_parameters_are_422(api, query, field):
    response = api.get(f"/desks?{query}")
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]


# --- services ------------------------------------------------------------------------------------

def test_put_service_is_idempotent_on_serial(api, world):
    first = api.put("/services/SAE000123", service_body(world.a.desk))
    assert first.status_code == 201
    assert first.json["serial"] == "SAE000123" and first.json["desk_rfc"] == world.a.desk.rfc
    assert first.json["product"] == "SAE" and first.json["has_cda"] is True
    again = api.put("/services/SAE000123", service_body(world.a.desk))
    assert again.status_code == 200
    assert again.json == first.json
    changed = api.put("/services/SAE000123", service_body(world.a.desk, users=10, next_payment_on="2027-01-14"))
    assert changed.status_code == 200
    assert changed.json["users"] == 10 and changed.json["next_payment_on"] == "2027-01-14"
    assert changed.json["updated_at"] > first.json["updated_at"]
    assert db.session.query(Service).count() == 1


def test_omitted_fields_are_kept_and_null_clears(api, world):
    api.put("/services/SAE000123", service_body(world.a.desk))
    kept = api.put("/services/SAE000123", {"desk_rfc": world.a.desk.rfc, "category": "suscripciones", "users": 3})
    assert kept.json["version"] == "9.0" and kept.json["has_cda"] is True and kept.json["users"] == 3
    cleared = api.put("/services/SAE000123", {"desk_rfc": world.a.desk.rfc, "category": "suscripciones",
                                               "next_payment_on": None, "cda": None})
    assert cleared.json["next_payment_on"] is None and cleared.json["has_cda"] is False


def test_the_cda_is_written_but_never_answered(api, world, caplog):
    secret = "CDA-SECRETO-123456"
    responses = [
        api.put("/services/SAE000123", service_body(world.a.desk, cda=secret)),
        api.put("/services/SAE000123", service_body(world.a.desk, cda=secret)),
        api.get("/services/SAE000123"),
        api.get("/services"),
        api.get(f"/services?desk_rfc={world.a.desk.rfc}"),
        api.put("/services/SAE000123", service_body(world.a.desk, cda=secret, users=-1)),
        api.put("/services/SAE000124", service_body(world.a.desk, cda=secret, product="XYZ")),
        api.post("/services/SAE000123/deactivate"),
    ]
    for response in responses:
        assert secret not in response.get_data(as_text=True)
    assert db.session.scalar(select(Service.cda)) == secret
    events = db.session.scalars(select(AuditEvent)).all()
    assert len(events) == len(responses)
    assert all(secret not in str(event.detail) for event in events)
    assert secret not in caplog.text


def test_any_category_can_be_written(api, world):
    space = {"desk_rfc": world.a.desk.rfc, "category": "espacio", "name": "Espacio de respaldo 50 GB",
             "plan": "Respaldo en línea", "capacity": "50 GB", "valid_from": "2026-01-01", "valid_until": "2026-12-31"}
    response = api.put("/services/ESP-0001", space)
    assert response.status_code == 201
    assert response.json["category"] == "espacio" and response.json["product"] is None
    assert response.json["has_cda"] is False and response.json["capacity"] == "50 GB"


def test_service_errors(api, world):
    system = api.put("/services/SAE000123", {"desk_rfc": world.a.desk.rfc, "category": "licenciamiento"})
    assert system.status_code == 422
    assert system.json["error"]["fields"] == {
        "product": "Un sistema necesita su producto.",
        "acquisition": "Un sistema necesita su forma de adquisición (electronica o fisica).",
    }
    unknown_desk = api.put("/services/SAE000123", service_body(world.a.desk, desk_rfc="PES120301Q45"))
    assert unknown_desk.json["error"]["fields"] == {"desk_rfc": "No existe un escritorio con ese RFC; créalo primero."}
    dates = api.put("/services/SAE000123", service_body(world.a.desk, valid_from="2026-02-01",
                                                        valid_until="2026-01-01", activated_on="2026-02-30"))
    assert dates.json["error"]["fields"] == {"activated_on": "Fecha no válida; usa AAAA-MM-DD."}
    product = api.put("/services/SAE000123", service_body(world.a.desk, product="ZZZ"))
    assert product.json["error"]["fields"]["product"].startswith("Producto desconocido")
    serial = api.put("/services/SAE%20123", service_body(world.a.desk), check=False)
    assert serial.status_code == 422 and "serial" in serial.json["error"]["fields"]
    assert db.session.query(Service).count() == 0


def test_deactivate_a_service(api, world):
    api.put("/services/SAE000123", service_body(world.a.desk))
    first = api.post("/services/SAE000123/deactivate")
    assert first.status_code == 200 and first.json["status"] == "cancelado"
    again = api.post("/services/SAE000123/deactivate")
    assert again.status_code == 200 and again.json["updated_at"] == first.json["updated_at"]
    assert api.post("/services/NOEXISTE/deactivate").status_code == 404


def test_service_list_filters_by_desk_and_category(api, world):
    factories.service(world.a.desk, serial="A-SUS")
    factories.service(world.a.desk, category="licenciamiento", serial="A-LIC")
    factories.service(world.b.desk, serial="B-SUS")
    assert {s["serial"] for s in api.get("/services").json["items"]} == {"A-SUS", "A-LIC", "B-SUS"}
    mine = api.get(f"/services?desk_rfc={world.a.desk.rfc}").json["items"]
    assert {s["serial"] for s in mine} == {"A-SUS", "A-LIC"}
    licences = api.get(f"/services?desk_rfc={world.a.desk.rfc}&category=licenciamiento").json["items"]
    assert [s["serial"] for s in licences] == ["A-LIC"]
    assert api.get("/services?desk_rfc=PES120301Q45").json["items"] == []
    assert api.get("/services?desk_rfc=no-es-rfc").json["error"]["fields"] == {
        "desk_rfc": "El RFC debe tener 12 caracteres (persona moral) o 13 (persona física)."}
    assert "category" in api.get("/services?category=otra").json["error"]["fields"]


# --- prepaid keys --------------------------------------------------------------------------------

def test_issue_a_batch_shows_the_codes_once(api):
    response = api.post("/key-batches", {"count": 25, "quantity": 50, "product": "sae", "expires_on": "2030-12-31",
                                          "reference": "factura-2026-0001"})
    assert response.status_code == 201
    body = response.json
    assert body["batch"] == "factura-2026-0001" and body["count"] == 25 and body["unit"] == "Timbres"
    assert body["product"] == "SAE" and body["expires_on"] == "2030-12-31"
    assert len(set(body["codes"])) == 25
    assert all(key_codes.normalise(code) == code for code in body["codes"])
    keys = db.session.scalars(select(PrepaidKey)).all()
    assert {key.code for key in keys} == set(body["codes"])
    assert {(key.status, key.quantity, key.batch, key.desk_id) for key in keys} == {
        ("nueva", 50, "factura-2026-0001", None)}
    again = api.post("/key-batches", {"count": 25, "quantity": 50, "reference": "factura-2026-0001"})
    assert again.status_code == 409 and again.json["error"]["code"] == "batch_exists"
    assert db.session.query(PrepaidKey).count() == 25
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).first()
    assert not any(code in str(event.detail) for code in body["codes"])


@pytest.mark.parametrize("body, field", [
    ({"count": 0, "quantity": 50}, "count"), ({"count": 1001, "quantity": 50}, "count"),
    ({"count": 1, "quantity": 0}, "quantity"), ({"count": 1, "quantity": 50, "expires_on": "2020-01-01"}, "expires_on"),
    ({"count": 1, "quantity": 50, "unit": " "}, "unit"), ({"count": 1}, "quantity"),
    ({"count": "3", "quantity": 50}, "count"), ({"count": True, "quantity": 50}, "count"),
    ({"count": 1, "quantity": 50, "codes": ["X"]}, "codes"),
])
def test_bad_batches_are_422_and_issue_nothing(api, body, field):
    response = api.post("/key-batches", body)
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]
    assert db.session.query(PrepaidKey).count() == 0


def test_get_a_keys_state(api, world):
    client = factories.client(world.a.desk, razon_social="Abarrotes San Miguel")
    used = factories.prepaid_key(world.a.desk, status="utilizada", client=client, confirmed_on=date(2026, 10, 1))
    response = api.get("/keys/" + key_codes.grouped(used.code).lower())
    assert response.status_code == 200
    assert response.json["code"] == used.code
    assert response.json["status"] == "utilizada" and response.json["desk_rfc"] == world.a.desk.rfc
    assert response.json["confirmed_on"] == "2026-10-01" and response.json["destination"] == "distribuidor"
    assert response.json["client"] == {"rfc": client.rfc, "razon_social": "Abarrotes San Miguel"}
    fresh = factories.prepaid_key()
    assert api.get(f"/keys/{fresh.code}").json["client"] is None
    assert api.get("/keys/" + key_codes.generate()).status_code == 404
    typo = fresh.code[:-1] + ("0" if fresh.code[-1] != "0" else "1")
    assert api.get(f"/keys/{typo}").status_code == 404


def test_revoke_only_unconfirmed_keys(api, world):
    fresh = factories.prepaid_key()
    first = api.post(f"/keys/{fresh.code}/revoke")
    assert first.status_code == 200 and first.json["status"] == "revocada"
    assert api.post(f"/keys/{fresh.code}/revoke").status_code == 200
    confirmed = factories.prepaid_key(world.a.desk)
    refused = api.post(f"/keys/{confirmed.code}/revoke")
    assert refused.status_code == 409 and refused.json["error"]["code"] == "key_confirmed"
    db.session.refresh(confirmed)
    assert confirmed.status == "disponible"


# --- stamps --------------------------------------------------------------------------------------

def test_stamp_use_is_counted_once_per_external_id(api, world):
    from portal.services.stamps import credit_stamps
    credit_stamps(world.a.desk.id, 500, "key:1")
    db.session.commit()
    path = f"/desks/{world.a.desk.rfc}/stamp-use"
    first = api.post(path, {"external_id": "timbrado-2026-000001", "quantity": 120, "note": "Octubre"})
    assert first.status_code == 201
    assert first.json == {"recorded": True, "balance": {"desk_rfc": world.a.desk.rfc, "received": 500, "used": 120,
                                                        "available": 380}}
    retry = api.post(path, {"external_id": "timbrado-2026-000001", "quantity": 120})
    assert retry.status_code == 200 and retry.json["recorded"] is False
    assert retry.json["balance"]["available"] == 380
    other = api.post(path, {"external_id": "timbrado-2026-000001", "quantity": 7})
    assert other.status_code == 409 and other.json["error"]["code"] == "external_id_reused"
    elsewhere = api.post(f"/desks/{world.b.desk.rfc}/stamp-use", {"external_id": "timbrado-2026-000001", "quantity": 120})
    assert elsewhere.status_code == 409
    # A report cannot take the place of a key's credit ("key:<id>").
    assert api.post(path, {"external_id": "key:1", "quantity": 1}).status_code == 201
    assert api.get(f"/desks/{world.a.desk.rfc}/stamps").json == {
        "desk_rfc": world.a.desk.rfc, "received": 500, "used": 121, "available": 379}
    assert api.get(f"/desks/{world.b.desk.rfc}/stamps").json["used"] == 0
    assert db.session.query(StampMovement).count() == 3
    assert api.post("/desks/PES120301Q45/stamp-use", {"external_id": "x", "quantity": 1}).status_code == 404


# --- errors, limits, audit -----------------------------------------------------------------------

def test_malformed_json_and_wrong_content_type_are_400(api):
    for data, content_type in (("{mal", "application/json"), ('{"razon_social": "x"}', "text/plain"),
                               (b"\xff\xfe", "application/json")):
        response = api.put("/desks/CBA950612K21", data=data, content_type=content_type)
        assert response.status_code == 400
        assert response.json["error"]["code"] == "invalid_json"


def test_a_body_over_the_limit_is_413_json(api):
    huge = desk_body(razon_social="x" * 70_000)
    response = api.put("/desks/CBA950612K21", huge)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
    assert db.session.query(Desk).count() == 0


def test_unknown_paths_and_methods_answer_json(api):
    missing = api.client.get("/api/v1/nada", headers={"Authorization": f"Bearer {api.secret}"})
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    wrong = api.client.delete("/api/v1/desks/CBA950612K21", headers={"Authorization": f"Bearer {api.secret}"})
    assert wrong.status_code == 405 and wrong.json["error"]["code"] == "method_not_allowed"
    assert "PUT" in wrong.headers["Allow"]


@pytest.mark.app_config(API_RATE_LIMIT="3/minute")
def test_each_token_has_its_own_rate_limit(api):
    assert [api.get("/desks").status_code for _ in range(3)] == [200, 200, 200]
    limited = api.get("/desks")
    assert limited.status_code == 429
    assert limited.json["error"]["code"] == "rate_limited"
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert api.get("/desks", secret=token("other", ["read"])).status_code == 200


def test_every_call_is_audited_with_the_token_name_never_the_token(api, world):
    api.put("/desks/CBA950612K21", desk_body())
    api.get("/desks/CBA950612K21")
    api.put("/desks/CBA950612K21", {"razon_social": ""})
    api.get("/desks", secret=token("keys-only", ["keys:write"]))
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    desk = db.session.scalar(select(Desk).where(Desk.rfc == "CBA950612K21"))
    assert [(e.event, e.actor, e.detail["status"]) for e in events] == [
        ("api.put_desk", "billing", 201), ("api.get_desk", "billing", 200), ("api.put_desk", "billing", 422),
        ("api.list_desks", "keys-only", 403),
    ]
    assert events[0].desk_id == desk.id and events[0].detail["rfc"] == "CBA950612K21"
    assert all(api.secret not in str(e.detail) and api.secret != e.actor for e in events)
    assert {e.ip for e in events} == {"127.0.0.1"}


# --- assignment ----------------------------------------------------------------------------------

def test_assigning_a_key_to_a_client_makes_it_utilizada_once(api, world):
    key = factories.prepaid_key(world.a.desk, confirmed_on=date(2026, 10, 1))
    body = {"rfc": "aab010101a10", "razon_social": "Abarrotes San Miguel", "activated_on": "2026-10-05"}
    first = api.post(f"/keys/{key_codes.grouped(key.code)}/assignment", body)
    assert first.status_code == 201
    assert first.json["status"] == "utilizada" and first.json["activated_on"] == "2026-10-05"
    assert first.json["client"] == {"rfc": "AAB010101A10", "razon_social": "Abarrotes San Miguel"}
    same = api.post(f"/keys/{key.code}/assignment", body)
    assert same.status_code == 200
    assert same.json == first.json
    other = api.post(f"/keys/{key.code}/assignment", {"rfc": "FER020202B20", "razon_social": "Ferretería Juárez"})
    assert other.status_code == 409 and other.json["error"]["code"] == "client_conflict"
    db.session.refresh(key)
    assert (key.status, key.client.rfc, key.activated_on) == ("utilizada", "AAB010101A10", date(2026, 10, 5))
    events = [e.event for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert events.count("api.assign_key") == 3 and events.count("prepaid_key_assigned") == 1
    assigned = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "prepaid_key_assigned"))
    assert assigned.actor == "billing" and key.code not in str(assigned.detail)


def test_assignment_defaults_to_today_and_needs_the_assign_scope(api, world):
    key = factories.prepaid_key(world.a.desk, confirmed_on=date(2026, 1, 1))
    body = {"rfc": "AAB010101A10", "razon_social": "Abarrotes San Miguel"}
    writer = token("writer", ["keys:write", "read"])
    assert api.post(f"/keys/{key.code}/assignment", body, secret=writer).status_code == 403
    response = api.post(f"/keys/{key.code}/assignment", body, secret=token("assigner", ["keys:assign"]))
    assert response.status_code == 201
    assert response.json["activated_on"] == factories.today().isoformat()


def test_keys_that_cannot_be_assigned(api, world):
    body = {"rfc": "AAB010101A10", "razon_social": "Abarrotes San Miguel", "activated_on": "2026-10-05"}
    fresh = factories.prepaid_key()
    refused = api.post(f"/keys/{fresh.code}/assignment", body)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "key_not_confirmed"
    revoked = factories.prepaid_key(status="revocada")
    assert api.post(f"/keys/{revoked.code}/assignment", body).json["error"]["code"] == "key_revoked"
    assert api.post(f"/keys/{key_codes.generate()}/assignment", body).status_code == 404
    early = factories.prepaid_key(world.a.desk, confirmed_on=date(2026, 10, 10))
    too_early = api.post(f"/keys/{early.code}/assignment", body)
    assert too_early.status_code == 422 and "activated_on" in too_early.json["error"]["fields"]
    bad_rfc = api.post(f"/keys/{early.code}/assignment", {**body, "rfc": "AAB011301A10"})
    assert bad_rfc.status_code == 422 and "rfc" in bad_rfc.json["error"]["fields"]
    db.session.refresh(early)
    assert early.status == "disponible" and early.client_id is None


# --- concurrency ---------------------------------------------------------------------------------

def test_concurrent_upserts_of_one_new_serial_create_it_once(app, live_server, world):
    secret = token()
    body = json.dumps(service_body(world.a.desk)).encode()

    def put(_):
        request = urllib.request.Request(live_server.url("/api/v1/services/SAE000999"), data=body, method="PUT",
                                         headers={"Authorization": f"Bearer {secret}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(put, range(6)))
    assert statuses == [200] * 5 + [201]
    db.session.rollback()  # this test's own read snapshot predates the server's writes (SQLite WAL)
    assert db.session.query(Service).count() == 1
