"""The "Claves prepago" grid (figure 5): the desk's keys by contract date, with their clients."""
from dataclasses import dataclass
from typing import Any

from flask import g
from markupsafe import Markup
from sqlalchemy import String, cast, func, outerjoin

from portal.grid import Choice, Column, DateRange, Grid, Text
from portal.models import Client, PrepaidKey

STATUS_LABELS = {"disponible": "Disponible", "utilizada": "Utilizada", "revocada": "Cancelada"}


@dataclass(frozen=True, eq=False)
class AmountColumn(Column):
    """Shows "50 Timbres" but sorts by the number, not by the text."""

    sort_by: Any = None

    def ordered(self, descending):
        return self.sort_by.desc() if descending else self.sort_by.asc()


def _grouped_sql(code):
    """XXXX-XXXX-XXXX-XXXX in SQL, so "Buscar..." finds a code pasted with its dashes."""
    parts = [func.substr(code, start, 4, type_=String) for start in (1, 5, 9, 13)]
    return parts[0] + "-" + parts[1] + "-" + parts[2] + "-" + parts[3]


def _grouped_cell(code):
    shown = "-".join(code[i:i + 4] for i in range(0, 16, 4))
    # The keys just confirmed (?resaltar=…), looked up by the view in this desk and kept on g.
    if code in g.get("highlighted_keys", ()):
        return Markup('<mark class="key-code key-new">{}</mark> <span class="badge badge-new">Nueva</span>').format(shown)
    return Markup('<span class="key-code">{}</span>').format(shown)


def _status_badge(value):
    return Markup('<span class="badge badge-{}">{}</span>').format(value, STATUS_LABELS.get(value, value))


def _scope(desk_id):
    # Only this desk's keys: a key of another desk never enters the query.
    return [PrepaidKey.desk_id == desk_id]


KEYS = Grid(
    "claves-prepago",
    tables=outerjoin(PrepaidKey, Client, Client.id == PrepaidKey.client_id),
    scope=_scope,
    key=PrepaidKey.id,
    search=func.lower(PrepaidKey.code + " " + _grouped_sql(PrepaidKey.code) + " " + func.coalesce(Client.razon_social, "")),
    default_sort="-fecha",
    row={"code": PrepaidKey.code},
    empty="Aún no hay claves de prepago en este escritorio.",
    columns=[
        Column("clave", "Clave", PrepaidKey.code, html=_grouped_cell),
        AmountColumn("cantidad", "Cantidad", cast(PrepaidKey.quantity, String) + " " + PrepaidKey.unit,
                     sort_by=PrepaidKey.quantity, groupable=True),
        Column("fecha", "Fecha", PrepaidKey.confirmed_on, kind="date", filter=DateRange("desde", "hasta")),
        Column("activacion", "F. Activación", PrepaidKey.activated_on, kind="date", empty="Inactiva", nullable=True,
               filter=DateRange("activacion_desde", "activacion_hasta")),
        Column("estatus", "Estatus", PrepaidKey.status, labels=STATUS_LABELS, html=_status_badge,
               filter=Choice("estatus", options=list(STATUS_LABELS.items())[:2]), groupable=True),
        Column("cliente", "Cliente", Client.razon_social, empty="Sin asignar", nullable=True, groupable=True,
               filter=Text("cliente")),
    ],
)
