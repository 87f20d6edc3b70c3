"""The /api/v1 endpoints: decode JSON, call one back-office rule, answer JSON (the wrapper commits)."""
from flask import current_app, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal import clock, sealed
from portal.api import bp
from portal.api.http import day, endpoint, json_body, list_args, page, respond
from portal.api.openapi import document
from portal.api.representations import (balance_json, desk_json, desk_sso_json, desks_json, key_json, service_json,
                                        services_json)
from portal.backoffice import operations
from portal.rfc import normalise_rfc
from portal.models import Desk, Service
from portal.models.services import CATEGORIES
from portal.key_codes import masked
from portal.services.stamps import stamp_balance


def _category_filter(value):
    if value not in CATEGORIES:
        raise ValueError("Valor no permitido; usa uno de: " + ", ".join(CATEGORIES) + ".")
    return value


def _created_or_ok(outcome):
    return 201 if outcome.created else 200


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document of this API (public: it holds no data)."""
    return respond(document())


# --- desks -----------------------------------------------------------------------------------

@bp.put("/desks/<rfc>")
@endpoint("desks:write")
def put_desk(call, rfc):
    """Create (201) or update (200) a desk by RFC, with its users."""
    outcome = operations.upsert_desk(rfc, json_body())
    call.note(desk=outcome.obj, rfc=outcome.obj.rfc, created=outcome.created, changed=outcome.changed,
              new_users=len(outcome.new_users))
    return respond(desk_json(outcome.obj), _created_or_ok(outcome))


@bp.get("/desks")
@endpoint("read", "desks:write")
def list_desks(call):
    """Desks in (updated_at, id) order, a page at a time, optionally only those updated since."""
    args = list_args()
    return respond(page(select(Desk), Desk, args, desks_json))


@bp.get("/desks/<rfc>")
@endpoint("read", "desks:write")
def get_desk(call, rfc):
    """One desk and its users."""
    desk = operations.desk_by_rfc(rfc)
    call.note(desk=desk)
    return respond(desk_json(desk))


@bp.put("/desks/<rfc>/sso")
@endpoint("desks:write")
def put_desk_sso(call, rfc):
    """Set (201) or update (200) the desk's own OpenID Provider; the secret is stored encrypted."""
    desk = operations.desk_by_rfc(rfc)
    outcome = operations.set_desk_sso(desk, json_body(), sealed.data_key(current_app.config))
    call.note(desk=desk, created=outcome.created, changed=outcome.changed, domains=outcome.obj.domain_list)
    return respond(desk_sso_json(desk, outcome.obj), _created_or_ok(outcome))


@bp.get("/desks/<rfc>/sso")
@endpoint("read", "desks:write")
def get_desk_sso(call, rfc):
    """The desk's own OpenID Provider, without its secret."""
    desk = operations.desk_by_rfc(rfc)
    call.note(desk=desk)
    return respond(desk_sso_json(desk, operations.desk_sso_of(desk)))


# --- services --------------------------------------------------------------------------------

@bp.put("/services/<serial>")
@endpoint("services:write")
def put_service(call, serial):
    """Create (201) or update (200) a service by serial; the CDA is accepted, never returned."""
    outcome = operations.upsert_service(serial, json_body())
    call.note(desk=outcome.obj.desk_id, serial=outcome.obj.serial,
              created=outcome.created, changed=outcome.changed)
    return respond(service_json(outcome.obj), _created_or_ok(outcome))


@bp.post("/services/<serial>/deactivate")
@endpoint("services:write")
def deactivate_service(call, serial):
    """Cancel a service (status cancelado); a second call changes nothing."""
    outcome = operations.deactivate_service(serial)
    call.note(desk=outcome.obj.desk_id, serial=outcome.obj.serial, changed=outcome.changed)
    return respond(service_json(outcome.obj))


@bp.get("/services")
@endpoint("read", "services:write")
def list_services(call):
    """Services in (updated_at, id) order; filters desk_rfc, category, updated_since."""
    args = list_args(desk_rfc=normalise_rfc, category=_category_filter)
    statement = select(Service).options(selectinload(Service.product))
    if args["desk_rfc"] is not None:
        statement = statement.join(Desk, Desk.id == Service.desk_id).where(Desk.rfc == args["desk_rfc"])
    if args["category"] is not None:
        statement = statement.where(Service.category == args["category"])
    return respond(page(statement, Service, args, services_json))


@bp.get("/services/<serial>")
@endpoint("read", "services:write")
def get_service(call, serial):
    """One service (without its CDA)."""
    service = operations.service_by_serial(serial)
    call.note(desk=service.desk_id, serial=service.serial)
    return respond(service_json(service))


# --- prepaid keys ----------------------------------------------------------------------------

@bp.post("/key-batches")
@endpoint("keys:write")
def issue_keys(call):
    """Issue a batch of new keys and answer their codes, this once."""
    issued = operations.issue_key_batch(json_body(), clock.today(current_app.config["TIMEZONE"]))
    call.note(batch=issued.batch, count=len(issued.codes))
    return respond({"batch": issued.batch, "count": len(issued.codes), "quantity": issued.quantity,
                    "unit": issued.unit, "product": issued.product, "expires_on": day(issued.expires_on),
                    "codes": issued.codes}, 201)


@bp.get("/keys/<secret:code>")
@endpoint("read", "keys:write", "keys:assign")
def get_key(call, code):
    """A key's state: status, desk, dates, client."""
    key = operations.key_by_code(code)
    call.note(desk=key.desk_id, key=masked(key.code))
    return respond(key_json(key))


@bp.post("/keys/<secret:code>/revoke")
@endpoint("keys:write")
def revoke_key(call, code):
    """Withdraw a key nobody has confirmed (409 once it is in a desk)."""
    outcome = operations.revoke_key(code)
    call.note(key=masked(outcome.obj.code), changed=outcome.changed)
    return respond(key_json(outcome.obj))


@bp.post("/keys/<secret:code>/assignment")
@endpoint("keys:assign")
def assign_key(call, code):
    """A distributor's client starts using a key: Utilizada (201); the same client again 200; another 409."""
    assignment = operations.assign_key(code, json_body(), today=clock.today(current_app.config["TIMEZONE"]), actor=call.caller, ip=request.remote_addr)
    call.note(desk=assignment.key.desk_id, key=masked(assignment.key.code), changed=assignment.changed)
    return respond(key_json(assignment.key), 201 if assignment.changed else 200)


# --- stamps ----------------------------------------------------------------------------------

@bp.post("/desks/<rfc>/stamp-use")
@endpoint("stamps:write")
def report_stamp_use(call, rfc):
    """Stamps a desk used (201 counted, 200 already counted) and the balance after it."""
    desk = operations.desk_by_rfc(rfc)
    recorded, balance = operations.report_stamp_use(desk, json_body())
    call.note(desk=desk, recorded=recorded)
    return respond({"recorded": recorded, "balance": balance_json(desk, balance)}, 201 if recorded else 200)


@bp.get("/desks/<rfc>/stamps")
@endpoint("read", "stamps:write")
def get_stamps(call, rfc):
    """The desk's Sellado CFDI balance: received, used, available."""
    desk = operations.desk_by_rfc(rfc)
    call.note(desk=desk)
    return respond(balance_json(desk, stamp_balance(desk.id)))

