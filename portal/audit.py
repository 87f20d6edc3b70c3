"""Audit events, written in the caller's transaction. Callers pass no secrets."""
from portal.extensions import db
from portal.models import AuditEvent


def record(event, *, user=None, desk=None, ip=None, actor=None, **detail):
    """Add an audit event to the session; the caller's commit keeps it with the change."""
    db.session.add(AuditEvent(
        event=event,
        user_id=getattr(user, "id", user),
        desk_id=getattr(desk, "id", desk),
        ip=ip,
        actor=actor,
        detail=detail,
    ))
