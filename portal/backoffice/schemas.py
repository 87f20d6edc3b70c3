"""The shapes of the back office's data, as JSON Schema (2020-12, the dialect of OpenAPI 3.1).

One definition serves three readers: the API validates request bodies against it, the CSV import
validates each row against it, and /api/v1/openapi.json publishes it. So the document cannot drift
from what the server accepts. What JSON Schema cannot say (a real RFC date, an e-mail that exists
as an address) the operations check themselves.
"""
from functools import lru_cache

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from portal.auth.validation import clean_email
from portal.models.accounts import DESK_KINDS, MEMBER_ROLES
from portal.models.services import ACQUISITIONS, CATEGORIES, SERVICE_STATUSES, StampMovement

# No control characters and no lone surrogates: PostgreSQL refuses NUL, and neither encodes as UTF-8.
PRINTABLE = "^[^\\u0000-\\u001f\\u007f\\ud800-\\udfff]*$"
# An RFC whose AAMMDD is a real date (29 Feb only in years divisible by 4), homoclave ending in a
# digit or A: exactly what portal/rfc.py accepts, so generated examples are meaningful.
_DAY = ("(?:[0-9]{2}(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)"
        "|02(?:0[1-9]|1[0-9]|2[0-8]))|(?:[02468][048]|[13579][26])0229)")
RFC = "^[A-Za-zÑñ&]{3,4}" + _DAY + "[A-Za-z0-9]{2}[0-9Aa]$"
SERIAL = "^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"
PRODUCT_CODE = "^[A-Za-z0-9]{1,20}$"
KEY_CODE = "^[0-9A-Za-z]{4}-?[0-9A-Za-z]{4}-?[0-9A-Za-z]{4}-?[0-9A-Za-z]{4}$"
# As long as its column (desk_identity_providers.issuer) holds with "https://".
ISSUER = "^https?://[A-Za-z0-9._~:/%@!$&'()*+,;=-]{1,292}$"
DOMAIN = "^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\\.)+[a-zA-Z]{2,63}$"
BATCH_REFERENCE = "^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"
MAX_BATCH = 1000
# Stamp use reported by the stamping service is kept apart from credits ("key:<id>", "demo:…") as
# "uso:<external_id>", so the id is shorter than its column by the prefix.
STAMP_USE_PREFIX = "uso:"
MAX_EXTERNAL_ID = StampMovement.__table__.c.external_id.type.length - len(STAMP_USE_PREFIX)
# The document's examples (Schemathesis sends them first; the tests seed a desk and a key to match).
EXAMPLE_RFC = "CBA950612K21"
EXAMPLE_SERIAL = "SAE000123"
EXAMPLE_CODE = "7KQ2-MXR4-HTD9-WBN4"


def text(max_length, min_length=0, nullable=False, **extra):
    """A printable string of at most `max_length` characters."""
    schema = {"type": ["string", "null"] if nullable else "string", "maxLength": max_length, "pattern": PRINTABLE}
    if min_length:
        schema["minLength"] = min_length
    schema.update(extra)
    return schema


def pattern(regex, description, nullable=False):
    return {"type": ["string", "null"] if nullable else "string", "pattern": regex, "description": description}


def day(nullable=True, description=None):
    schema = {"type": ["string", "null"] if nullable else "string", "format": "date"}
    if description:
        schema["description"] = description
    return schema


def one_of(values, nullable=False):
    return {"enum": list(values) + ([None] if nullable else [])}


def integer(minimum, maximum, nullable=False):
    return {"type": ["integer", "null"] if nullable else "integer", "minimum": minimum, "maximum": maximum}


def obj(properties, required=(), description=None, examples=None):
    schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = list(required)
    if examples:
        schema["examples"] = examples
    if description:
        schema["description"] = description
    return schema


TIMESTAMP = {"type": "string", "format": "date-time"}
NAME = text(200, 1)

# --- what the back office sends ----------------------------------------------------------------

INPUTS = {
    "DeskUserInput": obj({
        # format first: its reason (the sign-in's own) is the one reported for the field
        "email": {"type": "string", "format": "email", "maxLength": 254, "description": (
            "Matched without regard to case. The address the sign-in accepts: ASCII only (no accents, "
            "ñ or letters of other alphabets).")},
        "name": text(120, 1),
        "phone": text(30),
        "role": one_of(MEMBER_ROLES),
    }, required=("email", "name"), description=(
        "A user of the desk, matched by e-mail. A new user gets an e-mail to set a password; an "
        "existing one keeps their name, phone and password and only joins the desk (or changes role).")),
    "DeskInput": obj({
        "razon_social": NAME,
        "kind": one_of(DESK_KINDS),
        "require_two_factor": {"type": "boolean", "description": (
            "Every user of the desk must sign in with two-factor verification (TOTP); users without it are "
            "led to enrol at their next sign-in. Defaults to false on creation and is kept when omitted.")},
        "users": {"type": "array", "maxItems": 50, "items": {"$ref": "#/components/schemas/DeskUserInput"}},
    }, required=("razon_social",), examples=[{
        "razon_social": "Comercializadora del Bajío S.A. de C.V.", "kind": "cliente",
        "users": [{"email": "laura.mendez@bajio.com.mx", "name": "Laura Méndez", "phone": "477 123 4567",
                   "role": "owner"}],
    }], description=(
        "Create or update a desk by its RFC. `kind` defaults to cliente on creation and is kept "
        "when omitted later. Listed users are added or updated; users not listed are left alone.")),
    "ServiceInput": obj({
        "desk_rfc": pattern(RFC, "RFC of the desk that owns the service."),
        "category": one_of(CATEGORIES),
        "product": pattern(PRODUCT_CODE, "Catalogue code: SAE, COI, NOI, CAJA, FACTURE, BANCO, PROD, ADM.",
                           nullable=True),
        "name": text(200),
        "version": text(20, nullable=True),
        "users": integer(0, 100000, nullable=True),
        "cda": text(120, 1, nullable=True, writeOnly=True,
                    description="The activation code. Write-only: no response ever contains it."),
        "acquisition": one_of(ACQUISITIONS, nullable=True),
        "activated_on": day(),
        "next_payment_on": day(description="Subscriptions: the next payment date."),
        "plan": text(120, nullable=True),
        "capacity": text(60, nullable=True),
        "valid_from": day(),
        "valid_until": day(),
        "status": one_of(SERVICE_STATUSES),
    }, required=("desk_rfc", "category"), examples=[{
        "desk_rfc": EXAMPLE_RFC, "category": "suscripciones", "product": "SAE", "version": "9.0", "users": 5,
        "cda": "A1B2C3D4E5F6G7H8", "acquisition": "electronica", "activated_on": "2025-03-14",
        "next_payment_on": "2026-12-14",
    }], description=(
        "Create or update a service by its serial. Omitted fields keep their value (null clears "
        "one); the same body sent twice changes nothing. Systems (suscripciones, licenciamiento) "
        "need a product and an acquisition.")),
    "KeyBatchInput": obj({
        "count": integer(1, MAX_BATCH),
        "quantity": integer(1, 1000000),
        "unit": text(40, 1),
        "product": pattern(PRODUCT_CODE, "Catalogue code of the product the keys are worth, if any.",
                           nullable=True),
        "expires_on": day(),
        "reference": pattern(BATCH_REFERENCE, "Your name for the batch; a second batch with the same "
                             "reference is refused (409), so a retried request never issues twice."),
    }, required=("count", "quantity"), examples=[{"count": 10, "quantity": 50, "unit": "Timbres",
                                                  "expires_on": "2030-12-31"}],
        description="Issue `count` new prepaid keys; `unit` defaults to Timbres."),
    "AssignmentInput": obj({
        "rfc": pattern(RFC, "RFC of the distributor's client who starts using the key."),
        "razon_social": NAME,
        "activated_on": day(nullable=False, description="The day the client started using it; today if omitted."),
    }, required=("rfc", "razon_social"), examples=[{"rfc": "AAB010101A10", "razon_social": "Abarrotes San Miguel"}],
        description="A Disponible key becomes Utilizada by this client. The same client again changes "
                    "nothing (200); another client is a conflict (409)."),
    "DeskSsoInput": obj({
        "issuer": pattern(ISSUER, "The provider's issuer (its discovery document is at "
                          "issuer + /.well-known/openid-configuration).", nullable=False),
        "client_id": text(255, 1),
        "client_secret": text(500, 1, writeOnly=True, description=(
            "The portal's client secret at that provider. Write-only: kept encrypted, never returned. "
            "Required the first time; omitted later, the stored one is kept.")),
        "domains": {"type": "array", "minItems": 1, "maxItems": 20, "uniqueItems": True,
                    "items": pattern(DOMAIN, "An e-mail domain whose users sign in with this provider.",
                                     nullable=False)},
        "required": {"type": "boolean", "description": (
            "\"Solo con la cuenta de la empresa\": password sign-in is refused for these domains. "
            "Defaults to false, kept when omitted.")},
    }, required=("issuer", "client_id", "domains"), examples=[{
        "issuer": "https://login.bajio.com.mx/realms/personal", "client_id": "escritorio",
        "client_secret": "s3cr3t0-del-cliente", "domains": ["bajio.com.mx"], "required": False,
    }], description=(
        "The desk's own OpenID Provider: \"Ingresar con la cuenta de tu empresa\" sends users of these "
        "e-mail domains to it. A domain another desk's provider answers for is a conflict (409).")),
    "StampUseInput": obj({
        "external_id": text(MAX_EXTERNAL_ID, 1, description="The stamping service's id of this report: a retry "
                            "with the same id changes nothing."),
        "quantity": integer(1, 10000000),
        "note": text(500),
    }, required=("external_id", "quantity"), examples=[{"external_id": "timbrado-2026-000001", "quantity": 120,
                                                         "note": "Octubre"}]),
}

# --- what the portal answers -----------------------------------------------------------------

NULLABLE_TEXT = {"type": ["string", "null"]}
NULLABLE_DAY = {"type": ["string", "null"], "format": "date"}


def answer(properties):
    """A response object: every property always present."""
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": list(properties)}


OUTPUTS = {
    "Error": {
        "type": "object", "additionalProperties": False, "required": ["error"],
        "properties": {"error": {
            "type": "object", "additionalProperties": False, "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Stable, for programs: e.g. validation_failed."},
                "message": {"type": "string", "description": "Spanish, for people."},
                "fields": {"type": "object", "additionalProperties": {"type": "string"},
                           "description": "Per-field messages; keys are paths like users[0].email."},
            },
        }},
    },
    "DeskUser": answer({
        "email": {"type": "string"}, "name": {"type": "string"}, "phone": {"type": "string"},
        "role": one_of(MEMBER_ROLES),
    }),
    "DeskInvitation": answer({
        "email": {"type": "string"}, "role": one_of(MEMBER_ROLES),
        "invited_by": {"type": ["string", "null"], "description": "The inviting owner's e-mail."},
        "sent_at": TIMESTAMP, "expires_at": TIMESTAMP,
    }),
    "Desk": answer({
        "rfc": {"type": "string"}, "razon_social": {"type": "string"}, "kind": one_of(DESK_KINDS),
        "require_two_factor": {"type": "boolean"},
        "users": {"type": "array", "items": {"$ref": "#/components/schemas/DeskUser"}},
        "pending_invitations": {
            "type": "array", "items": {"$ref": "#/components/schemas/DeskInvitation"},
            "description": "Invitations its owners sent that are not accepted or withdrawn yet (expired ones "
                           "too: an owner can resend them)."},
        "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
    }),
    "DeskPage": answer({
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Desk"}},
        "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page."},
    }),
    "Service": answer({
        "serial": {"type": ["string", "null"], "description": (
            "null for a service recorded without one (a Sellado CFDI plan, backup space, a course): it is "
            "listed, but has no /services/{serial}.")},
        "desk_rfc": {"type": "string"}, "category": one_of(CATEGORIES),
        "product": NULLABLE_TEXT, "name": {"type": "string"}, "version": NULLABLE_TEXT,
        "users": {"type": ["integer", "null"]}, "has_cda": {"type": "boolean"},
        "acquisition": one_of(ACQUISITIONS, nullable=True),
        "activated_on": NULLABLE_DAY, "next_payment_on": NULLABLE_DAY, "plan": NULLABLE_TEXT,
        "capacity": NULLABLE_TEXT, "valid_from": NULLABLE_DAY, "valid_until": NULLABLE_DAY,
        "status": one_of(SERVICE_STATUSES), "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
    }),
    "ServicePage": answer({
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Service"}},
        "next_cursor": {"type": ["string", "null"]},
    }),
    "KeyBatch": answer({
        "batch": {"type": "string"}, "count": {"type": "integer"}, "quantity": {"type": "integer"},
        "unit": {"type": "string"}, "product": NULLABLE_TEXT, "expires_on": NULLABLE_DAY,
        "codes": {"type": "array", "items": {"type": "string", "pattern": "^[0-9A-Z]{16}$"},
                  "description": "The new codes. Shown this once: keep them."},
    }),
    "Client": answer({"rfc": {"type": "string"}, "razon_social": {"type": "string"}}),
    "PrepaidKey": answer({
        "code": {"type": "string"},
        "status": {"enum": ["nueva", "disponible", "utilizada", "revocada"]},
        "quantity": {"type": "integer"}, "unit": {"type": "string"}, "product": NULLABLE_TEXT,
        "batch": NULLABLE_TEXT, "expires_on": NULLABLE_DAY, "desk_rfc": NULLABLE_TEXT,
        "destination": {"enum": ["mi_negocio", "distribuidor", None]},
        "confirmed_on": NULLABLE_DAY, "activated_on": NULLABLE_DAY,
        "client": {"oneOf": [{"$ref": "#/components/schemas/Client"}, {"type": "null"}]},
        "updated_at": TIMESTAMP,
    }),
    "DeskSso": answer({
        "desk_rfc": {"type": "string"}, "issuer": {"type": "string"}, "client_id": {"type": "string"},
        "has_client_secret": {"type": "boolean"}, "domains": {"type": "array", "items": {"type": "string"}},
        "required": {"type": "boolean"}, "updated_at": TIMESTAMP,
    }),
    "StampBalance": answer({
        "desk_rfc": {"type": "string"}, "received": {"type": "integer"}, "used": {"type": "integer"},
        "available": {"type": "integer"},
    }),
    "StampUseResult": answer({
        "recorded": {"type": "boolean", "description": "False when this external_id was already counted."},
        "balance": {"$ref": "#/components/schemas/StampBalance"},
    }),
}

COMPONENTS = {**INPUTS, **OUTPUTS}

# --- validation ------------------------------------------------------------------------------


class InvalidInput(ValueError):
    """The input breaks its schema or a rule: `fields` maps a path to a Spanish message."""

    def __init__(self, fields):
        super().__init__(fields)
        self.fields = fields


# Draft 2020-12's formats, "email" being the portal's one rule for an address.
FORMAT_CHECKER = FormatChecker(Draft202012Validator.FORMAT_CHECKER.checkers)


@FORMAT_CHECKER.checks("email", raises=ValueError)
def _email(instance):
    """clean_email's verdict; its Spanish reason travels as the error's cause."""
    return not isinstance(instance, str) or bool(clean_email(instance))


@lru_cache(maxsize=None)
def _validator(name):
    document = {"components": {"schemas": COMPONENTS}}
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:portal", resource)
    return Draft202012Validator({"$ref": f"urn:portal#/components/schemas/{name}"}, registry=registry,
                                format_checker=FORMAT_CHECKER)


def validate(name, data):
    """Raise InvalidInput with every broken field of `data` against the schema `name`."""
    fields = {}
    for error in _validator(name).iter_errors(data):
        for path, message in _explain(error):
            fields.setdefault(path or "body", message)
    if fields:
        raise InvalidInput(fields)


def field_path(parts):
    """users[0].email from ("users", 0, "email")."""
    text_ = ""
    for part in parts:
        text_ += f"[{part}]" if isinstance(part, int) else (f".{part}" if text_ else str(part))
    return text_


FORMATS = {"date": "Fecha no válida; usa AAAA-MM-DD."}
SPANISH_TYPES = {"string": "texto", "integer": "un número entero", "number": "un número", "object": "un objeto",
                 "array": "una lista", "boolean": "verdadero o falso", "null": "null"}


def _explain(error):
    """(path, Spanish message) pairs for one jsonschema error."""
    where = list(error.absolute_path)
    kind, value = error.validator, error.validator_value
    if kind == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        return [(field_path(where + [name]), "Campo no permitido.") for name in error.instance if name not in allowed]
    if kind == "required":
        return [(field_path(where + [name]), "Campo obligatorio.") for name in value if name not in error.instance]
    if kind == "type":
        types = value if isinstance(value, list) else [value]
        return [(field_path(where), "Debe ser " + " o ".join(SPANISH_TYPES.get(t, t) for t in types) + ".")]
    if kind == "format" and value == "email":
        return [(field_path(where), str(error.cause))]
    if kind == "enum":
        shown = ", ".join("null" if v is None else str(v) for v in value)
        return [(field_path(where), f"Valor no permitido; usa uno de: {shown}.")]
    messages = {
        "minLength": "No puede estar vacío." if value == 1 else f"Debe tener al menos {value} caracteres.",
        "maxLength": f"Debe tener como máximo {value} caracteres.",
        "minimum": f"Debe ser al menos {value}.",
        "maximum": f"Debe ser como máximo {value}.",
        "maxItems": f"Debe tener como máximo {value} elementos.",
        "format": FORMATS.get(value, "Formato no válido."),
        "pattern": ("Contiene caracteres no permitidos." if value == PRINTABLE else "Formato no válido."),
    }
    return [(field_path(where), messages.get(kind, "Valor no válido."))]
