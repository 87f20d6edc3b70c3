"""Alerts: who wants which reminders in which desk, and the alerts already raised (each once)."""
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal import clock
from portal.models._types import check_in

# payment_*: a subscription's Próximo Pago; validity_*: the end of a póliza, servidor virtual,
# espacio or curso; keys_expiring: a Disponible key about to expire unused; stamps_low: a balance
# under the user's threshold.
ALERT_KINDS = ("payment_7", "payment_1", "validity_30", "validity_7", "keys_expiring", "stamps_low")


class AlertPreference(db.Model):
    """One user's alerts in one desk. No row means every reminder on and no stamp threshold."""

    __tablename__ = "alert_preferences"
    __table_args__ = (
        UniqueConstraint("user_id", "desk_id", name="uq_alert_preferences_user_desk"),
        CheckConstraint("stamp_threshold IS NULL OR stamp_threshold >= 0", name="stamp_threshold"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"), index=True)
    payments: Mapped[bool] = mapped_column(Boolean, default=True)
    validity: Mapped[bool] = mapped_column(Boolean, default=True)
    expiring_keys: Mapped[bool] = mapped_column(Boolean, default=True)
    low_stamps: Mapped[bool] = mapped_column(Boolean, default=True)
    stamp_threshold: Mapped[int | None] = mapped_column(Integer)
    # Which fall under the threshold comes next: raised by one once the balance is back at or
    # above it after an alert, so a second fall is a new alert (kind, this row, period).
    stamp_period: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now, onupdate=clock.now)


class Alert(db.Model):
    """An alert raised once: its unique (kind, subject, period) is what makes any number of runs,
    on any number of hosts, mail it once (INSERT … ON CONFLICT DO NOTHING)."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("kind", "subject_id", "period", name="uq_alerts_kind_subject_period"),
        CheckConstraint(check_in("kind", ALERT_KINDS), name="kind"),
        Index("ix_alerts_batch", "batch"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    # A service (payment_*, validity_*), a prepaid key (keys_expiring) or an alert preference (stamps_low).
    subject_id: Mapped[int] = mapped_column(Integer)
    # The due date (AAAA-MM-DD) the alert is about, or for stamps_low the preference's stamp_period.
    period: Mapped[str] = mapped_column(String(20))
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"), index=True)
    # The run that raised it: that run's mails are written from its own rows.
    batch: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
