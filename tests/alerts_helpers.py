"""What the alert tests share: a run on a frozen day, the alert mails queued, stamp movements."""
from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from portal.alerts.run import run_alerts
from portal.extensions import db
from portal.models import OutboxMessage, StampMovement
from tests import factories


def run(today):
    """One committed run of the rules with `today` handed in (the frozen clock)."""
    report = run_alerts(today, store_url=current_app.config["STORE_URL"], tz_name=current_app.config["TIMEZONE"])
    db.session.commit()
    return report


def alert_mails():
    """The alert mails in the outbox, oldest first."""
    db.session.expire_all()
    return db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind.like("alert_%"))
                              .order_by(OutboxMessage.id)).all()


def stamps(desk, kind, quantity, on, hour=12):
    """A stamp movement at `hour` o'clock of day `on` in the portal's time zone."""
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    at = datetime.combine(on, time(hour), tz).astimezone(timezone.utc)
    db.session.add(StampMovement(desk_id=desk.id, kind=kind, quantity=quantity,
                                 external_id=f"t-{factories._n()}", created_at=at))
    db.session.commit()
