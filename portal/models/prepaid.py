"""Prepaid keys (claves de prepago) and the distributor's clients who use them."""
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.folding import fold
from portal import clock
from portal.models._types import check_in
from portal.sealed import Sealed, digest

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
        # The code in clear exactly for a key in a desk; encrypted for one in none.
        CheckConstraint("(desk_id IS NULL AND code IS NULL AND sealed_code IS NOT NULL) OR "
                        "(desk_id IS NOT NULL AND code IS NOT NULL AND sealed_code IS NULL)", name="code_in_desk_only"),
        # "Claves prepago": one desk, a contract-date range, sorted by date; filters by status and client.
        Index("ix_prepaid_keys_desk_confirmed", "desk_id", "confirmed_on", "id"),
        Index("ix_prepaid_keys_desk_status_confirmed", "desk_id", "status", "confirmed_on", "id"),
        Index("ix_prepaid_keys_desk_client_confirmed", "desk_id", "client_id", "confirmed_on", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The code: 16 Crockford base32 characters, the last a check character, without dashes. In clear
    # only once the key is in a desk (its grid shows, sorts and searches it); a key nobody has
    # confirmed, which anyone holding its code could still confirm, keeps it encrypted
    # (portal/sealed.py). Every lookup by code goes through its keyed digest. Use `code`.
    shown_code: Mapped[str | None] = mapped_column("code", String(16), unique=True)
    sealed_code: Mapped[str | None] = mapped_column(Sealed("key_code", 16))
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
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

    @property
    def code(self):
        """The code in clear, wherever it is kept."""
        return self.shown_code or self.sealed_code

    @code.setter
    def code(self, value):
        self.code_digest = code_digest(value)
        self.sealed_code, self.shown_code = value, None  # placed by status at flush (_place_code)


def code_digest(code):
    """The keyed digest a key is looked up by (the canonical code: key_codes.normalise)."""
    return digest("key_code", code)


@event.listens_for(PrepaidKey, "before_insert")
@event.listens_for(PrepaidKey, "before_update")
def _place_code(_mapper, _connection, key):
    # In clear in a desk, encrypted in none (a new key, or one revoked before anyone confirmed it).
    clear = key.code
    if key.desk_id is None:
        key.sealed_code, key.shown_code = clear, None
    else:
        key.shown_code, key.sealed_code = clear, None
