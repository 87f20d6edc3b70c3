"""The seven Mis Servicios grids: one per category, over the desk's services of that category."""
from flask import current_app
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import outerjoin

from portal import clock
from portal.services.due import due_label
from portal.extensions import db
from portal.grid import Choice, Column, DateRange, Grid, NumberRange, Text, badge, day_text
from portal.models import Product, Service
from portal.models.services import ACQUISITION_LABELS, CATEGORIES, STATUS_LABELS, SYSTEM_CATEGORIES

ROW_ACTIONS = "cda/_row_action.html"  # the "Reenviar CDA" slot, filled by the CDA area


def _products():
    return [(code, code) for code in db.session.scalars(select(Product.code).order_by(Product.code))]


def _product_in(codes):
    # Through product_id, so the (desk_id, category, product_id, id) index can serve it.
    return Service.product_id.in_(select(Product.id).where(Product.code.in_(codes)))


def _status_badge(value):
    return badge(value, STATUS_LABELS.get(value, value))


def _due_cell(value):
    """The date, and within a week of it a badge: "Vence en 3 días", "Vence mañana", "Vence hoy"."""
    shown = day_text(value)
    label = due_label(value, clock.today(current_app.config["TIMEZONE"]))
    if label is None:
        return shown
    return Markup(f'{shown} <span class="badge badge-due">{escape(label)}</span>')


def _scope(category):
    def scope(desk_id):
        return [Service.desk_id == desk_id, Service.category == category]
    return scope


SYSTEM = Column("sistema", "Sistema", Product.code, groupable=True,
                filter=Choice("producto", options=_products, where=_product_in))
VERSION = Column("version", "Versión", Service.version, groupable=True, nullable=True)
USERS = Column("usuarios", "Usuarios", Service.users, kind="number", groupable=True, nullable=True,
               filter=NumberRange("usuarios_min", "usuarios_max"))
SERIAL = Column("serie", "No. Serie", Service.serial, filter=Text("serie"), nullable=True)
ACTIVATED = Column("activacion", "Fecha Activación", Service.activated_on, kind="date",
                   filter=DateRange("desde", "hasta"))
NEXT_PAYMENT = Column("proximo_pago", "Próximo Pago", Service.next_payment_on, kind="date", nullable=True, html=_due_cell,
                      filter=DateRange("pago_desde", "pago_hasta"))
ACQUISITION = Column("adquisicion", "Adquisición", Service.acquisition, labels=ACQUISITION_LABELS,
                     groupable=True, visible=False, nullable=True, filter=Choice("adquisicion"))
STATUS = Column("estatus", "Estatus", Service.status, labels=STATUS_LABELS, html=_status_badge,
                groupable=True, filter=Choice("estatus"))
NAME = Column("servicio", "Servicio", Service.name)
PLAN = Column("plan", "Plan", Service.plan, groupable=True, nullable=True)
CAPACITY = Column("capacidad", "Capacidad", Service.capacity, groupable=True, nullable=True)
VALID_FROM = Column("vigencia_desde", "Vigencia desde", Service.valid_from, kind="date", nullable=True,
                    filter=DateRange("desde", "hasta"))
VALID_UNTIL = Column("vigencia_hasta", "Vigencia hasta", Service.valid_until, kind="date", nullable=True, html=_due_cell,
                     filter=DateRange("vence_desde", "vence_hasta"))

COLUMNS = {
    "suscripciones": [SYSTEM, VERSION, USERS, SERIAL, ACTIVATED, NEXT_PAYMENT,
                      ACQUISITION, STATUS.relabel("Estatus", visible=False)],
    "licenciamiento": [SYSTEM, VERSION, USERS, SERIAL, ACTIVATED,
                       ACQUISITION, STATUS.relabel("Estatus", visible=False)],
    "servidor-virtual": [NAME, PLAN, CAPACITY, SERIAL.relabel("No. Serie", visible=False), VALID_FROM, VALID_UNTIL, STATUS],
    "espacio": [NAME, PLAN, CAPACITY, VALID_FROM, VALID_UNTIL, STATUS],
    "polizas": [NAME.relabel("Póliza"), SYSTEM, PLAN, VALID_FROM, VALID_UNTIL, STATUS],
    "sellado-cfdi": [NAME, PLAN.relabel("Paquete"), VALID_FROM, VALID_UNTIL, STATUS],
    "cursos": [NAME.relabel("Curso"), PLAN.relabel("Modalidad"), VALID_FROM.relabel("Inicio"),
               VALID_UNTIL.relabel("Fin"), STATUS],
}

EMPTY = {
    "suscripciones": "Aún no tienes sistemas en suscripción en este escritorio.",
    "licenciamiento": "Aún no tienes sistemas comprados electrónicamente en este escritorio.",
    "servidor-virtual": "Aún no tienes servidores virtuales en este escritorio.",
    "espacio": "Aún no tienes espacio contratado en este escritorio.",
    "polizas": "Aún no tienes pólizas en este escritorio.",
    "sellado-cfdi": "Aún no tienes servicios de Sellado CFDI en este escritorio.",
    "cursos": "Aún no tienes cursos en este escritorio.",
}


def _grid(category):
    system = category in SYSTEM_CATEGORIES
    return Grid(
        f"servicios-{category}",
        columns=COLUMNS[category],
        tables=outerjoin(Service, Product, Product.id == Service.product_id),
        scope=_scope(category),
        key=Service.id,
        search=Service.search_text,
        default_sort="-activacion" if system else "-vigencia_hasta",
        row={"serial": Service.serial, "acquisition": Service.acquisition} if system else None,
        row_actions=ROW_ACTIONS if system else None,
        empty=EMPTY[category],
    )


GRIDS = {category: _grid(category) for category in CATEGORIES}
