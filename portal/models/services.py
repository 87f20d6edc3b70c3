"""The catalogue and what each desk owns."""
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Text, event, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.sealed import Sealed
from portal.folding import fold
from portal import clock
from portal.models._types import check_in

# URL slug -> Spanish name, in the order of the "Mis Servicios" menu.
CATEGORIES = {
    "servidor-virtual": "Servidor virtual",
    "suscripciones": "Suscripciones",
    "licenciamiento": "Licenciamiento",
    "espacio": "Espacio",
    "polizas": "Mis Pólizas",
    "sellado-cfdi": "Sellado CFDI",
    "cursos": "Cursos",
}
SYSTEM_CATEGORIES = ("suscripciones", "licenciamiento")
ACQUISITIONS = ("electronica", "fisica")
SERVICE_STATUSES = ("activo", "vencido", "cancelado")
STATUS_LABELS = {"activo": "Activo", "vencido": "Vencido", "cancelado": "Cancelado"}
ACQUISITION_LABELS = {"electronica": "Electrónica", "fisica": "Física"}
STAMP_MOVEMENTS = ("credito", "consumo")


def dated_status(valid_until, today):
    """A dated service is Vencido once its last day has passed, Activo until then."""
    return "vencido" if valid_until is not None and valid_until < today else "activo"


class Product(db.Model):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(80))


class Service(db.Model):
    """A system or service a desk owns; each category uses the columns its grid shows."""

    __tablename__ = "services"
    __table_args__ = (
        CheckConstraint(check_in("category", tuple(CATEGORIES)), name="category"),
        CheckConstraint(f"acquisition IS NULL OR {check_in('acquisition', ACQUISITIONS)}", name="acquisition"),
        CheckConstraint(check_in("status", SERVICE_STATUSES), name="status"),
        CheckConstraint("users IS NULL OR users >= 0", name="users"),
        # The grids filter by desk + category and sort by these columns.
        Index("ix_services_desk_category_activated", "desk_id", "category", "activated_on", "id"),
        Index("ix_services_desk_category_next_payment", "desk_id", "category", "next_payment_on", "id"),
        Index("ix_services_desk_category_product", "desk_id", "category", "product_id", "id"),
        Index("ix_services_desk_category_valid_until", "desk_id", "category", "valid_until", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(20))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    name: Mapped[str] = mapped_column(String(200), default="")
    version: Mapped[str | None] = mapped_column(String(20))
    users: Mapped[int | None] = mapped_column(Integer)
    serial: Mapped[str | None] = mapped_column(String(40), unique=True)
    # The activation code: a secret that leaves the portal only inside an e-mail, stored encrypted
    # (portal/sealed.py). Deferred, so no list query loads it (nor could log it); only the resend
    # rule reads it.
    cda: Mapped[str | None] = mapped_column(Sealed("cda", 120), deferred=True)
    acquisition: Mapped[str | None] = mapped_column(String(12))
    activated_on: Mapped[date | None] = mapped_column(Date)
    next_payment_on: Mapped[date | None] = mapped_column(Date)
    plan: Mapped[str | None] = mapped_column(String(120))
    capacity: Mapped[str | None] = mapped_column(String(60))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="activo")
    # fold() of what a user may type in "Buscar...": kept by the events below (see service_search_text).
    search_text: Mapped[str] = mapped_column(String(500), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now, onupdate=clock.now, index=True)

    product: Mapped[Product | None] = relationship()

    @property
    def is_system(self):
        return self.category in SYSTEM_CATEGORIES

    @property
    def cda_by_email(self):
        """Only systems bought electronically have their CDA e-mailed."""
        return self.is_system and self.acquisition == "electronica" and bool(self.cda)


def service_search_text(product_code, product_name, name, version, serial, plan, capacity, status):
    """The folded "Buscar..." text of a service; bulk loaders that skip the ORM call this themselves."""
    return fold(product_code, product_name, name, version, serial, plan, capacity,
                STATUS_LABELS.get(status, status))[:500]


@event.listens_for(Service, "before_insert")
@event.listens_for(Service, "before_update")
def _keep_search_text(_mapper, connection, service):
    # Inside a flush: read the product through the flush's connection, never by lazy loading.
    product = service.__dict__.get("product")
    code = name = None
    if product is not None:
        code, name = product.code, product.name
    elif service.product_id is not None:
        row = connection.execute(select(Product.code, Product.name).where(Product.id == service.product_id)).first()
        if row is not None:
            code, name = row
    service.search_text = service_search_text(code, name, service.name, service.version, service.serial,
                                              service.plan, service.capacity, service.status or "activo")


class StampMovement(db.Model):
    """Stamps (timbres) credited to or consumed by a desk: the Sellado CFDI balance."""

    __tablename__ = "stamp_movements"
    __table_args__ = (
        CheckConstraint(check_in("kind", STAMP_MOVEMENTS), name="kind"),
        CheckConstraint("quantity > 0", name="quantity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    quantity: Mapped[int] = mapped_column(Integer)
    # Who reported it, so a retried report is recognised: "key:<id>" or the stamping service's id.
    external_id: Mapped[str] = mapped_column(String(80), unique=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
