"""Model objects as the API's JSON (the shapes of portal.backoffice.schemas.OUTPUTS)."""
from sqlalchemy import select

from portal.api.http import day, iso
from portal.extensions import db
from portal.models import Desk, DeskInvitation, Membership, Service, User


def desk_json(desk, members=None, invitations=None):
    """A desk with its users and pending invitations; `members` (user, role) pairs and
    `invitations` when the caller loaded them already."""
    if members is None:
        members = members_of([desk.id]).get(desk.id, [])
    if invitations is None:
        invitations = invitations_of([desk.id]).get(desk.id, [])
    return {
        "rfc": desk.rfc, "razon_social": desk.razon_social, "kind": desk.kind,
        "require_two_factor": bool(desk.require_two_factor),
        "users": [{"email": user.email, "name": user.name, "phone": user.phone or "", "role": role}
                  for user, role in members],
        "pending_invitations": [{"email": invitation.email, "role": invitation.role, "invited_by": inviter,
                                 "sent_at": iso(invitation.sent_at), "expires_at": iso(invitation.expires_at)}
                                for invitation, inviter in invitations],
        "created_at": iso(desk.created_at), "updated_at": iso(desk.updated_at),
    }


def desk_sso_json(desk, provider):
    """A desk's OpenID Provider, never its client secret."""
    return {"desk_rfc": desk.rfc, "issuer": provider.issuer, "client_id": provider.client_id,
            "has_client_secret": bool(provider.client_secret_encrypted), "domains": provider.domain_list,
            "required": bool(provider.required), "updated_at": iso(provider.updated_at)}


def members_of(desk_ids):
    """desk id -> [(user, role)] for several desks in one query."""
    rows = db.session.execute(
        select(Membership.desk_id, User, Membership.role).join(User, User.id == Membership.user_id)
        .where(Membership.desk_id.in_(desk_ids)).order_by(Membership.desk_id, User.email)
    ).all()
    members = {}
    for desk_id, user, role in rows:
        members.setdefault(desk_id, []).append((user, role))
    return members


def invitations_of(desk_ids):
    """desk id -> [(invitation, inviter's e-mail)] for several desks in one query."""
    rows = db.session.execute(
        select(DeskInvitation, User.email).outerjoin(User, User.id == DeskInvitation.invited_by_id)
        .where(DeskInvitation.desk_id.in_(desk_ids)).order_by(DeskInvitation.desk_id, DeskInvitation.email)
    ).all()
    invitations = {}
    for invitation, inviter in rows:
        invitations.setdefault(invitation.desk_id, []).append((invitation, inviter))
    return invitations


def desks_json(desks):
    ids = [desk.id for desk in desks]
    members = members_of(ids) if desks else {}
    invitations = invitations_of(ids) if desks else {}
    return [desk_json(desk, members.get(desk.id, []), invitations.get(desk.id, [])) for desk in desks]


def services_json(services):
    """Services as JSON, with their desks' RFCs and whether each has a CDA, in one query.

    Whether a CDA exists is asked of the database: the CDA itself (a deferred column) is never loaded.
    """
    if not services:
        return []
    db.session.flush()
    facts = {service_id: (rfc, has_cda) for service_id, rfc, has_cda in db.session.execute(
        select(Service.id, Desk.rfc, Service.cda.is_not(None)).join(Desk, Desk.id == Service.desk_id)
        .where(Service.id.in_([service.id for service in services]))
    )}
    return [_service(service, *facts[service.id]) for service in services]


def service_json(service):
    """One service. Never its CDA: only whether it has one."""
    return services_json([service])[0]


def _service(service, desk_rfc, has_cda):
    return {
        "serial": service.serial, "desk_rfc": desk_rfc, "category": service.category,
        "product": service.product.code if service.product else None,
        "name": service.name or "", "version": service.version, "users": service.users,
        "has_cda": bool(has_cda), "acquisition": service.acquisition,
        "activated_on": day(service.activated_on), "next_payment_on": day(service.next_payment_on),
        "plan": service.plan, "capacity": service.capacity,
        "valid_from": day(service.valid_from), "valid_until": day(service.valid_until),
        "status": service.status, "created_at": iso(service.created_at), "updated_at": iso(service.updated_at),
    }


def key_json(key):
    """A prepaid key's state."""
    desk_rfc = db.session.scalar(select(Desk.rfc).where(Desk.id == key.desk_id)) if key.desk_id else None
    return {
        "code": key.code, "status": key.status, "quantity": key.quantity, "unit": key.unit,
        "product": key.product.code if key.product else None, "batch": key.batch,
        "expires_on": day(key.expires_on), "desk_rfc": desk_rfc, "destination": key.destination,
        "confirmed_on": day(key.confirmed_on), "activated_on": day(key.activated_on),
        "client": {"rfc": key.client.rfc, "razon_social": key.client.razon_social} if key.client else None,
        "updated_at": iso(key.updated_at),
    }


def balance_json(desk, balance):
    return {"desk_rfc": desk.rfc, "received": balance.received, "used": balance.used, "available": balance.available}
