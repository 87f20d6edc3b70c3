"""The "Claves prepago" grid (figure 5): the desk's keys by contract date, with their clients."""
import calendar
from dataclasses import dataclass
from datetime import date
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import String, cast, func, or_, outerjoin, select

from portal.grid import Choice, Column, DateRange, Grid, Text, badge, like_pattern
from portal.models import Client, PrepaidKey
from portal.key_codes import ALPHABET

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


def _grouped_cell(code, highlighted):
    """The code as XXXX-XXXX-XXXX-XXXX; `highlighted`: the codes just confirmed (?resaltar=…) in this desk."""
    shown = "-".join(code[i:i + 4] for i in range(0, 16, 4))
    if code in highlighted:
        return Markup('<mark class="key-code key-new">{}</mark> <span class="badge badge-new">Nueva</span>').format(shown)
    return Markup(f'<span class="key-code">{escape(shown)}</span>')  # no str.format: one per row


def _status_badge(value):
    return badge(value, STATUS_LABELS.get(value, value))


CODE_CHARACTERS = frozenset(ALPHABET.lower() + "-")
# A desk's keys have their code in clear (portal/models/prepaid.py): searched as it is shown.
CODE_TEXT = func.lower(PrepaidKey.shown_code + " " + _grouped_sql(PrepaidKey.shown_code))


def _search(word, desk_id):
    """A folded word of "Buscar...": in the key's code (plain or grouped) or in its client's name.

    The client part is a list of this desk's client ids (a few thousand clients at most), which
    the (desk_id, client_id, confirmed_on, id) index serves: no key row is read for the name.
    A word with a character no code has ("ferreteria": i) cannot be in a code, so it is not looked
    for there, and the search never walks every key of the period.
    """
    clients = select(Client.id).where(Client.desk_id == desk_id,
                                      Client.search_text.like(like_pattern(word), escape="\\"))
    in_client = PrepaidKey.client_id.in_(clients)
    if set(word) <= CODE_CHARACTERS:
        return or_(CODE_TEXT.like(like_pattern(word), escape="\\"), in_client)
    return in_client


def _statuses(desk_id):
    # "Agrupar por Estatus" walks the desk's statuses (index (desk_id, status, confirmed_on, id)).
    return select(PrepaidKey.status).where(PrepaidKey.desk_id == desk_id)


def _client_names(desk_id):
    # "Agrupar por Cliente" walks the desk's client names (index (desk_id, razon_social)).
    return select(Client.razon_social).where(Client.desk_id == desk_id)


def _scope(desk_id):
    # Only this desk's keys: a key of another desk never enters the query.
    return [PrepaidKey.desk_id == desk_id]


KEYS = Grid(
    "claves-prepago",
    tables=outerjoin(PrepaidKey, Client, Client.id == PrepaidKey.client_id),
    scope=_scope,
    key=PrepaidKey.id,
    search=_search,
    default_sort="-fecha",
    row={"code": PrepaidKey.shown_code},
    empty="Aún no hay claves de prepago en este escritorio.",
    columns=[
        Column("clave", "Clave", PrepaidKey.shown_code, html=_grouped_cell, html_args=("highlighted",)),
        AmountColumn("cantidad", "Cantidad", cast(PrepaidKey.quantity, String) + " " + PrepaidKey.unit,
                     sort_by=PrepaidKey.quantity, groupable=True),
        Column("fecha", "Fecha", PrepaidKey.confirmed_on, kind="date", filter=DateRange("desde", "hasta", every="fechas")),
        Column("activacion", "F. Activación", PrepaidKey.activated_on, kind="date", empty="Inactiva", nullable=True,
               filter=DateRange("activacion_desde", "activacion_hasta")),
        Column("estatus", "Estatus", PrepaidKey.status, labels=STATUS_LABELS, html=_status_badge,
               filter=Choice("estatus", options=list(STATUS_LABELS.items())[:2]), groupable=True,
               group_values=_statuses),
        Column("cliente", "Cliente", Client.razon_social, empty="Sin asignar", nullable=True, groupable=True,
               filter=Text("cliente"), group_values=_client_names),
    ],
)


def with_default_period(args, today):
    """`args` with Fecha from two months ago to today when they name no date at all (a fresh visit).

    Dates sent blank (cleared, then Aplicar) or "Todas las fechas" (fechas=todas) mean every date.
    """
    if any(name in args for name in KEYS.by_key["fecha"].filter.params):
        return args
    args = args.copy()
    args.setlist("desde", [months_before(today, 2).isoformat()])
    args.setlist("hasta", [today.isoformat()])
    return args


def months_before(day, months):
    """The same day `months` months earlier (the month's last day when it is shorter)."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last_day))
