"""Prepaid keys (claves de prepago) and the distributor's clients who use them."""
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.folding import fold
from portal import clock
from portal.models._types import check_in

KEY_STATUSES = ("nueva", "disponible", "utilizada", "revocada")
DESTINATIONS = ("mi_negocio", "distribuidor")


class Client(db.Model):
    """A distributor's client, named when it starts using a key."""

    __tablename__ = "clients"
    __table_args__ = (
        UniqueConstraint("desk_id", "rfc", name="uq_clients_desk_rfc"),
        # "Agrupar por Cliente" in Claves prepago reads the desk's client names in order.
        Index("ix_clients_desk_razon_social", "desk_id", "razon_social"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"))
    rfc: Mapped[str] = mapped_column(String(13))
    razon_social: Mapped[str] = mapped_column(String(200))
    # fold(razon_social): "Buscar..." in Claves prepago finds "Ferretería" by "ferreteria" (kept below).
    search_text: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)


@event.listens_for(Client, "before_insert")
@event.listens_for(Client, "before_update")
def _keep_client_search_text(_mapper, _connection, client):
    client.search_text = fold(client.razon_social)[:200]


class PrepaidKey(db.Model):
    __tablename__ = "prepaid_keys"
    __table_args__ = (
        CheckConstraint(check_in("status", KEY_STATUSES), name="status"),
        CheckConstraint(f"destination IS NULL OR {check_in('destination', DESTINATIONS)}", name="destination"),
        CheckConstraint("quantity > 0", name="quantity"),
        # A key in a desk has a date; a new one has neither.
        CheckConstraint("(status IN ('nueva', 'revocada')) OR (desk_id IS NOT NULL AND confirmed_on IS NOT NULL)",
                        name="confirmed_has_desk"),
        CheckConstraint("status <> 'utilizada' OR activated_on IS NOT NULL", name="used_has_date"),
        # "Claves prepago": one desk, a contract-date range, sorted by date; filters by status and client.
        Index("ix_prepaid_keys_desk_confirmed", "desk_id", "confirmed_on", "id"),
        Index("ix_prepaid_keys_desk_status_confirmed", "desk_id", "status", "confirmed_on", "id"),
        Index("ix_prepaid_keys_desk_client_confirmed", "desk_id", "client_id", "confirmed_on", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # 16 Crockford base32 characters, the last a check character; stored without dashes.
    code: Mapped[str] = mapped_column(String(16), unique=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(40), default="Timbres")
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    status: Mapped[str] = mapped_column(String(12), default="nueva")
    batch: Mapped[str | None] = mapped_column(String(40))
    expires_on: Mapped[date | None] = mapped_column(Date)
    desk_id: Mapped[int | None] = mapped_column(ForeignKey("desks.id", ondelete="RESTRICT"))
    destination: Mapped[str | None] = mapped_column(String(12))
    confirmed_on: Mapped[date | None] = mapped_column(Date)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    license_accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    activated_on: Mapped[date | None] = mapped_column(Date)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now, onupdate=clock.now, index=True)

    client: Mapped[Client | None] = relationship()
    product = relationship("Product")
