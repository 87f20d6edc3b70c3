"""The API's HTTP plumbing: bearer tokens, scopes, the per-token limit, JSON in and out, the audit.

Every endpoint is wrapped by `endpoint(scope…)`, which authenticates (401), checks the scope (403),
counts the call against the token's limit (429), runs the view, and writes the audit event — in
the view's own transaction when it changed something, so a change is never without its record.
"""
import base64
import binascii
import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import wraps

from flask import current_app, jsonify, request
from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from portal import audit, limits
from portal.backoffice.operations import Conflict, NotFound
from portal.backoffice.schemas import InvalidInput
from portal.backoffice.tokens import find_token
from portal.errors import json_error
from portal.extensions import db
from portal.models import ApiToken
from portal.numbers import MAX_INTEGER, whole_number
from portal import clock
from portal.sanity import bad_text

READ_METHODS = {"GET", "HEAD"}
CONCURRENT = "Otra solicitud cambió estos datos al mismo tiempo; vuelve a enviar la tuya."
MAX_PAGE = 200
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})$")


class ApiError(Exception):
    """An error answer: HTTP status, stable code, Spanish message, per-field messages."""

    def __init__(self, status, code, message, fields=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields, self.headers = status, code, message, fields, headers

    def response(self):
        return json_error(self.status, self.message, code=self.code, fields=self.fields, headers=self.headers)


def as_api_error(error):
    """The ApiError for a domain error of portal.backoffice (or None)."""
    if isinstance(error, InvalidInput):
        return ApiError(422, "validation_failed", "Revisa los datos enviados.", error.fields)
    if isinstance(error, NotFound):
        return ApiError(404, "not_found", error.message)
    if isinstance(error, Conflict):
        return ApiError(409, error.code, error.message)
    return None


@dataclass
class ApiCall:
    """One call to an endpoint, handed to its view: who makes it (the token's name, what audit
    records name as the actor) and the detail the view adds to the call's audit event."""
    token_id: int
    caller: str
    event: str
    desk_id: int | None = None
    detail: dict = field(default_factory=dict)

    def note(self, desk=None, **detail):
        """Add to the audit event (never a secret: no CDA, token or full key code); desk or its id."""
        if desk is not None:
            self.desk_id = getattr(desk, "id", desk)
        self.detail.update(detail)


def endpoint(*scopes):
    """Bearer token with one of `scopes`, the rate limit, the transaction and the audit event.
    The view receives the ApiCall as its first argument."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            request.max_content_length = current_app.config["API_MAX_CONTENT_LENGTH"]
            token = _authenticate()
            # Plain values: the token row is not read again once the view's transaction ends.
            call = ApiCall(token_id=token.id, caller=token.name, event=f"api.{view.__name__}")
            try:
                if not any(token.has_scope(scope) for scope in scopes):
                    raise ApiError(403, "forbidden", "El token no tiene el alcance necesario: "
                                   + " o ".join(scopes) + ".")
                _rate_limit(token.id)
                # A concurrent request may insert the same serial, RFC or report first: one retry
                # sees its row. Each attempt notes afresh, so the event tells what the last one did.
                for _attempt in range(2):
                    call = replace(call, desk_id=None, detail={})
                    try:
                        response = view(call, *args, **kwargs)
                        if request.method in READ_METHODS:
                            # End the read before writing the audit event (SQLite: a read cannot become a write).
                            db.session.rollback()
                        _audit(call, response.status_code)
                        db.session.commit()
                        return response
                    except IntegrityError:
                        db.session.rollback()
                raise ApiError(409, "conflict", CONCURRENT)
            except Exception as error:
                db.session.rollback()
                translated = as_api_error(error)
                _audit(call, _status_of(translated or error))
                db.session.commit()
                if translated is not None:
                    raise translated from None
                raise

        return wrapper

    return decorate


def _authenticate():
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    token = find_token(secret.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        raise ApiError(401, "unauthorized", "Falta el token o no es válido (Authorization: Bearer <token>).",
                       headers={"WWW-Authenticate": 'Bearer realm="api"'})
    return token


def _rate_limit(token_id):
    """Per token (API_RATE_LIMIT); a RateLimited answers the JSON 429 of portal.errors.rate_limited."""
    limits.hit("api_token", token_id)


def _audit(call, status):
    audit.record(call.event, desk=call.desk_id, ip=request.remote_addr, actor=call.caller,
                 method=request.method, status=status, **call.detail)
    db.session.execute(update(ApiToken).where(ApiToken.id == call.token_id).values(last_used_at=clock.now()))


def _status_of(error):
    if isinstance(error, (ApiError, limits.RateLimited)):
        return error.status
    if isinstance(error, HTTPException):
        return error.code
    return 500


def init_app(bp):
    """Answer the API's own errors as JSON."""
    bp.register_error_handler(ApiError, lambda error: error.response())


# --- JSON in and out -------------------------------------------------------------------------

def json_body():
    """The request's JSON value; 400 if it is not JSON."""
    if not request.is_json:
        raise ApiError(400, "invalid_json", "Envía el cuerpo como JSON (Content-Type: application/json).")
    try:
        value = json.loads(request.get_data().decode("utf-8"))  # cached: a retried view reads it again
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "El cuerpo no es JSON válido en UTF-8.") from None
    try:
        refused = bad_text(value)  # "\u0000" or a lone "\ud800": valid JSON, but no database stores it
    except RecursionError:
        refused = True
    if refused:
        raise ApiError(400, "invalid_json", "El cuerpo contiene caracteres no válidos (NUL o sustitutos sueltos).")
    return value


def respond(body, status=200):
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def iso(moment):
    """RFC 3339 in UTC; SQLite hands back naive datetimes that are UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def day(value):
    return value.isoformat() if value else None


# --- lists: keyset pages by (updated_at, id) -------------------------------------------------

def list_args(**filters):
    """limit, cursor, updated_since and the filters from the query string; unknown or bad ones are 422.

    `filters` maps a parameter to its parser, which returns the value or raises ValueError (Spanish).
    """
    allowed = {"limit", "cursor", "updated_since", *filters}
    unknown = {name: "Parámetro desconocido." for name in request.args if name not in allowed}
    if unknown:
        raise ApiError(422, "validation_failed", "Revisa los parámetros de la consulta.", unknown)
    fields = {}
    raw_limit = request.args.get("limit", "50")
    limit = whole_number(raw_limit, MAX_PAGE) or 0
    if not 1 <= limit <= MAX_PAGE:
        fields["limit"] = f"Debe ser un entero de 1 a {MAX_PAGE}."
    since = request.args.get("updated_since")
    if since is not None:
        since = _parse_moment(since)
        if since is None:
            fields["updated_since"] = "Fecha y hora no válidas; usa ISO 8601, p. ej. 2026-01-31T18:00:00Z."
    cursor = request.args.get("cursor")
    if cursor is not None:
        cursor = _decode_cursor(cursor)
        if cursor is None:
            fields["cursor"] = "Cursor no válido; usa el next_cursor de la página anterior."
    values = {"limit": limit, "since": since, "cursor": cursor}
    for name, parse in filters.items():
        raw = request.args.get(name)
        try:
            values[name] = parse(raw) if raw is not None else None
        except ValueError as error:
            fields[name] = str(error)
    if fields:
        raise ApiError(422, "validation_failed", "Revisa los parámetros de la consulta.", fields)
    return values


def page(statement, model, args, represent):
    """One page of `statement` in (updated_at, id) order, and the cursor of the next.

    `represent` turns the page's rows (a list) into their JSON items, so it can load related rows
    for the whole page in one query.
    """
    statement = statement.order_by(model.updated_at, model.id)
    if args["since"] is not None:
        statement = statement.where(model.updated_at >= args["since"])
    if args["cursor"] is not None:
        moment, last_id = args["cursor"]
        statement = statement.where(or_(model.updated_at > moment,
                                        and_(model.updated_at == moment, model.id > last_id)))
    rows = db.session.scalars(statement.limit(args["limit"] + 1)).all()
    more = len(rows) > args["limit"]
    rows = rows[:args["limit"]]
    next_cursor = _encode_cursor(rows[-1].updated_at, rows[-1].id) if more else None
    return {"items": represent(rows), "next_cursor": next_cursor}


def _utc(moment):
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _parse_moment(text):
    """An RFC 3339 date-time (the offset is required: a bare time is ambiguous), in UTC; else None."""
    if not RFC3339.match(text):
        return None
    try:
        return _utc(datetime.fromisoformat(text.upper().replace("Z", "+00:00")))
    except ValueError:
        return None


def _encode_cursor(moment, row_id):
    raw = json.dumps([_utc(moment).isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(text):
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        moment, row_id = json.loads(raw)
        # An id is a positive INTEGER: PostgreSQL refuses to compare a column with anything larger.
        if not isinstance(row_id, int) or isinstance(row_id, bool) or not 0 < row_id <= MAX_INTEGER:
            return None
        parsed = _parse_moment(moment)
        return (parsed, row_id) if parsed else None
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        return None
