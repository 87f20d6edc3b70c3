"""Who did what, where and when — never a secret."""
from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal import clock


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_user_at", "user_id", "at"),
        Index("ix_audit_events_desk_at", "desk_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    event: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    desk_id: Mapped[int | None] = mapped_column(ForeignKey("desks.id", ondelete="SET NULL"))
    ip: Mapped[str | None] = mapped_column(String(45))
    actor: Mapped[str | None] = mapped_column(String(120))  # an API token's name, or an e-mail tried
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    # The request's ID (portal/request_ids.py): the folio its error page showed, its log lines' ID.
    request_id: Mapped[str | None] = mapped_column(String(64))
