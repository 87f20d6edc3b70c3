"""Reenviar CDA: the rules. A system's activation code leaves the portal only inside an e-mail.

Plain functions on model objects and plain values; the views turn the exceptions into the
"Aspel notifica" modal. Nothing here reads the request or the session.
"""
from sqlalchemy import select
from sqlalchemy.orm import load_only

from portal import audit, limits, roles
from portal.extensions import db
from portal.mail.outbox import enqueue
from portal.models import OutboxMessage, Service
from portal.models.services import SYSTEM_CATEGORIES
from portal.mail.addresses import mask_email

MAIL_KIND = "cda"
HISTORY_SIZE = 20


class ResendRefused(Exception):
    """The CDA was not sent; the subclass says why."""


class PhysicalCopy(ResendRefused):
    """Bought physically: the CDA is printed on the Certificado de Autenticidad, never e-mailed."""


class NoCdaOnFile(ResendRefused):
    """The vendor has not recorded a CDA for this system yet."""


class EmailNotVerified(ResendRefused):
    """The account's address is unconfirmed: a secret is not sent to an address nobody proved."""


class TooManyResends(ResendRefused, limits.RateLimited):
    """A limit (portal/limits.py: cda_system, cda_desk) is reached; `scope` is "system" or "desk"."""

    def __init__(self, limited):
        limits.RateLimited.__init__(self, limited.name, limited.retry_after, limited.storage_down)
        self.scope = "system" if limited.name == "cda_system" else "desk"


def find_system(desk, serial):
    """The desk's Suscripciones/Licenciamiento system with this serial, or None."""
    return db.session.scalar(
        select(Service).where(Service.desk_id == desk.id, Service.serial == serial,
                              Service.category.in_(SYSTEM_CATEGORIES))
    )


def resend_cda(service, user, desk, ip):
    """Queue the e-mail with the CDA to the user's address and audit it; the caller commits.
    RoleRefused (portal.roles) unless the user's role in the desk may act on it."""
    roles.require_in(desk.id, user.id, roles.CHANGE)
    if service.acquisition == "fisica":
        raise PhysicalCopy()
    if not service.cda:
        raise NoCdaOnFile()
    if not user.email_verified:
        raise EmailNotVerified()
    # Generous for a person who lost a message, useless for filling someone's inbox. First look
    # without counting, so a refused request costs nothing; then count, which is atomic in the
    # storage, so two requests racing for the last send cannot both pass.
    try:
        for count in (limits.check, limits.hit):
            count("cda_system", service.id)
            count("cda_desk", desk.id)
    except limits.RateLimited as limited:
        raise TooManyResends(limited) from None
    product = service.product.name if service.product else service.name
    message = enqueue(
        user.email,
        f"Código de Activación (CDA) de {product} — No. Serie {service.serial}",
        "cda",
        kind=MAIL_KIND, desk=desk, user=user, service=service,
        name=user.name, product=product, version=service.version, serial=service.serial, cda=service.cda,
    )
    audit.record("cda_resent", user=user, desk=desk, ip=ip, service_id=service.id, serial=service.serial,
                 recipient=mask_email(user.email))
    return message


def recent_sends(desk, service, limit=HISTORY_SIZE):
    """The latest e-mails with this system's CDA sent from this desk, newest first."""
    return db.session.scalars(
        # Never the bodies: an undelivered one still holds the CDA.
        select(OutboxMessage)
        .options(load_only(OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.status,
                           OutboxMessage.created_at, OutboxMessage.sent_at))
        .where(OutboxMessage.service_id == service.id, OutboxMessage.desk_id == desk.id,
               OutboxMessage.kind == MAIL_KIND)
        .order_by(OutboxMessage.id.desc()).limit(limit)
    ).all()


def latest_send(desk, service):
    """The last e-mail with this system's CDA, or None."""
    sends = recent_sends(desk, service, limit=1)
    return sends[0] if sends else None
