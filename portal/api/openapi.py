"""The OpenAPI 3.1 document of /api/v1, written by hand around the schemas the server validates with."""
from flask import request

from portal.backoffice.schemas import COMPONENTS, EXAMPLE_CODE, EXAMPLE_RFC, EXAMPLE_SERIAL, KEY_CODE, RFC, SERIAL
from portal.models.api_tokens import API_SCOPES
from portal.models.services import CATEGORIES

DESCRIPTION = """\
The vendor's back office feeds the Escritorio de Servicios through this API.

* **Authentication**: `Authorization: Bearer <token>`. Tokens are created with
  `flask portal token create --name NAME --scope a,b`; the portal keeps only their hash.
  Unknown or revoked token: 401. A token without the operation's scope: 403.
* **Scopes**: `desks:write`, `services:write`, `keys:write`, `keys:assign`, `stamps:write`, and `read`
  (every GET). A write scope also lets its holder read what it writes.
* **Errors**: `{"error": {"code", "message", "fields"}}` with a stable `code` (`validation_failed`,
  `not_found`, `forbidden`, `rate_limited`, …) and a Spanish `message`; `fields` maps a field's path
  to what is wrong with it. Unknown fields are refused (422). Bodies over the size limit: 413.
* **Limits**: calls per token per minute; beyond them 429 with `Retry-After`.
* **Lists**: pages in `updated_at` order; pass `next_cursor` back as `cursor`; `updated_since`
  (ISO 8601) returns only what changed since then.
* **Secrets**: a system's CDA can be written, never read back; key codes are shown once, when issued.
"""

ERRORS = {
    "400": "The body is not JSON.",
    "401": "Missing, unknown or revoked token.",
    "403": "The token lacks the scope.",
    "404": "Not found.",
    "409": "Conflicts with the current state.",
    "413": "Body too large.",
    "422": "Invalid fields or parameters.",
    "429": "Too many calls with this token.",
}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name):
    return {"application/json": {"schema": _ref(name)}}


def _responses(ok, *errors):
    responses = dict(ok)
    for status in ("401", "403", "429", *errors):
        response = {"description": ERRORS[status], "content": _json("Error")}
        if status == "401":
            response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}}
        if status == "429":
            response["headers"] = {"Retry-After": {"schema": {"type": "string"}, "required": True,
                                                   "description": "Seconds to wait."}}
        responses[status] = response
    return responses


def _ok(status, name, description):
    return {status: {"description": description, "content": _json(name)}}


def _path_param(name, regex, description, example):
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": regex}, "example": example}


def _operation(operation_id, summary, scopes, responses, parameters=(), body=None):
    operation = {"operationId": operation_id, "summary": summary,
                 "description": "Scope: " + " or ".join(f"`{scope}`" for scope in scopes) + ".",
                 "responses": responses, "x-scopes": list(scopes)}
    if parameters:
        operation["parameters"] = list(parameters)
    if body:
        operation["requestBody"] = {"required": True, "content": _json(body)}
    return operation


RFC_PARAM = _path_param("rfc", RFC, "The desk's RFC.", EXAMPLE_RFC)
SERIAL_PARAM = _path_param("serial", SERIAL, "The service's serial number (No. Serie).", EXAMPLE_SERIAL)
CODE_PARAM = _path_param("code", KEY_CODE, "The key's 16 characters, dashes allowed.", EXAMPLE_CODE)
LIST_PARAMS = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
    {"name": "cursor", "in": "query", "schema": {"type": "string", "maxLength": 200},
     "description": "The previous page's next_cursor."},
    {"name": "updated_since", "in": "query", "schema": {"type": "string", "format": "date-time"},
     "description": "Only rows updated at or after this moment (RFC 3339, with its offset)."},
]
READ = ("read",)


def paths():
    desk_errors = ("400", "404", "409", "413", "422")
    return {
        "/desks": {"get": _operation(
            "listDesks", "List desks", READ + ("desks:write",),
            _responses(_ok("200", "DeskPage", "A page of desks."), "422"), LIST_PARAMS)},
        "/desks/{rfc}": {
            "parameters": [RFC_PARAM],
            "put": _operation(
                "putDesk", "Create or update a desk and its users", ("desks:write",),
                _responses({**_ok("200", "Desk", "Updated (or unchanged)."), **_ok("201", "Desk", "Created.")},
                           *desk_errors), body="DeskInput"),
            "get": _operation("getDesk", "A desk and its users", READ + ("desks:write",),
                              _responses(_ok("200", "Desk", "The desk."), "404")),
        },
        "/desks/{rfc}/stamp-use": {
            "parameters": [RFC_PARAM],
            "post": _operation(
                "reportStampUse", "Report stamps a desk used (idempotent by external_id)", ("stamps:write",),
                _responses({**_ok("200", "StampUseResult", "Already counted: nothing changed."),
                            **_ok("201", "StampUseResult", "Counted.")}, *desk_errors), body="StampUseInput"),
        },
        "/desks/{rfc}/sso": {
            "parameters": [RFC_PARAM],
            "put": _operation(
                "putDeskSso", "Set the desk's own OpenID Provider (the client secret is write-only)", ("desks:write",),
                _responses({**_ok("200", "DeskSso", "Updated (or unchanged)."), **_ok("201", "DeskSso", "Set.")},
                           *desk_errors), body="DeskSsoInput"),
            "get": _operation("getDeskSso", "The desk's own OpenID Provider (never its secret)", READ + ("desks:write",),
                              _responses(_ok("200", "DeskSso", "The provider."), "404")),
        },
        "/desks/{rfc}/stamps": {
            "parameters": [RFC_PARAM],
            "get": _operation("getStampBalance", "The desk's Sellado CFDI balance", READ + ("stamps:write",),
                              _responses(_ok("200", "StampBalance", "The balance."), "404")),
        },
        "/services": {"get": _operation(
            "listServices", "List services", READ + ("services:write",),
            _responses(_ok("200", "ServicePage", "A page of services."), "422"),
            LIST_PARAMS + [
                {"name": "desk_rfc", "in": "query", "schema": {"type": "string", "pattern": RFC}},
                {"name": "category", "in": "query", "schema": {"enum": list(CATEGORIES)}},
            ])},
        "/services/{serial}": {
            "parameters": [SERIAL_PARAM],
            "put": _operation(
                "putService", "Create or update a service by serial (idempotent)", ("services:write",),
                _responses({**_ok("200", "Service", "Updated, or unchanged when the body is the same."),
                            **_ok("201", "Service", "Created.")}, *desk_errors), body="ServiceInput"),
            "get": _operation("getService", "A service (never its CDA)", READ + ("services:write",),
                              _responses(_ok("200", "Service", "The service."), "404")),
        },
        "/services/{serial}/deactivate": {
            "parameters": [SERIAL_PARAM],
            "post": _operation("deactivateService", "Cancel a service", ("services:write",),
                               _responses(_ok("200", "Service", "Cancelled (or already was)."), "404", "409")),
        },
        "/key-batches": {"post": _operation(
            "issueKeyBatch", "Issue a batch of prepaid keys (codes shown once)", ("keys:write",),
            _responses(_ok("201", "KeyBatch", "Issued."), "400", "409", "413", "422"), body="KeyBatchInput")},
        "/keys/{code}": {
            "parameters": [CODE_PARAM],
            "get": _operation("getKey", "A prepaid key's state", READ + ("keys:write", "keys:assign"),
                              _responses(_ok("200", "PrepaidKey", "The key."), "404")),
        },
        "/keys/{code}/assignment": {
            "parameters": [CODE_PARAM],
            "post": _operation(
                "assignKey", "A distributor's client starts using a key", ("keys:assign",),
                _responses({**_ok("201", "PrepaidKey", "Assigned: the key is Utilizada by this client."),
                            **_ok("200", "PrepaidKey", "Already assigned to this client: nothing changed.")},
                           "400", "404", "409", "413", "422"), body="AssignmentInput"),
        },
        "/keys/{code}/revoke": {
            "parameters": [CODE_PARAM],
            "post": _operation("revokeKey", "Revoke a key nobody has confirmed", ("keys:write",),
                               _responses(_ok("200", "PrepaidKey", "Revoked (or already was)."), "404", "409")),
        },
    }


def document():
    """The whole OpenAPI document, with the server URL under the portal's mount prefix."""
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": "Escritorio de Servicios — API del back office", "version": "1.0.0",
                 "description": DESCRIPTION},
        "servers": [{"url": request.script_root + "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths(),
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "Scopes: " + ", ".join(API_SCOPES) + "."}},
        },
    }
