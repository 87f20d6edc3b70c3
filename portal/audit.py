"""Audit events, written in the caller's transaction. Callers pass no secrets."""
from portal import request_ids
from portal.extensions import db
from portal.models import AuditEvent

RUNNING = object()  # request_id's default: the ID of the request (or CLI run) writing the event


def record(event, *, user=None, desk=None, ip=None, actor=None, request_id=RUNNING, **detail):
    """Add an audit event to the session; the caller's commit keeps it with the change.

    `request_id`: the request's ID, kept with the event so support can find its log lines from the
    folio a customer reads; by default the running request's (None outside one).
    """
    db.session.add(AuditEvent(
        event=event,
        user_id=getattr(user, "id", user),
        desk_id=getattr(desk, "id", desk),
        ip=ip,
        actor=actor,
        request_id=request_ids.current_id() if request_id is RUNNING else request_id,
        detail=detail,
    ))
