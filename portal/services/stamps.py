"""The Sellado CFDI stamp balance: credits (keys, services) minus reported use."""
from dataclasses import dataclass

from sqlalchemy import case, func, select

from portal.extensions import db
from portal.models import StampMovement


@dataclass
class StampBalance:
    received: int
    used: int

    @property
    def available(self):
        return self.received - self.used


def stamp_balance(desk_id):
    """Received, used and available stamps of a desk, in one query."""
    received, used = db.session.execute(
        select(
            func.coalesce(func.sum(case((StampMovement.kind == "credito", StampMovement.quantity), else_=0)), 0),
            func.coalesce(func.sum(case((StampMovement.kind == "consumo", StampMovement.quantity), else_=0)), 0),
        ).where(StampMovement.desk_id == desk_id)
    ).one()
    return StampBalance(int(received), int(used))


def credit_stamps(desk_id, quantity, external_id, note=""):
    """Add stamps to a desk once per external_id; returns False if that id was already counted."""
    return _movement(desk_id, "credito", quantity, external_id, note)


def record_stamp_use(desk_id, quantity, external_id, note=""):
    """Record stamps used, once per external_id (a retried report changes nothing)."""
    return _movement(desk_id, "consumo", quantity, external_id, note)


def _movement(desk_id, kind, quantity, external_id, note):
    existing = db.session.scalar(select(StampMovement).where(StampMovement.external_id == external_id))
    if existing is not None:
        return False
    db.session.add(StampMovement(desk_id=desk_id, kind=kind, quantity=quantity, external_id=external_id, note=note))
    return True
