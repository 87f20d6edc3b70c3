"""The Usuarios grid: the active desk's members, with their role, two-step sign-in and last sign-in."""
from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select

from portal import roles
from portal.grid import Choice, Column, Grid, badge, like_pattern
from portal.models import AuditEvent, Membership, TwoFactorCredential, User
from portal.templating import fecha_hora

ROW_ACTIONS = "members/_row_action.html"
TWO_STEP = {True: "Activada", False: "Desactivada"}

# Correlated on the row's user: one index lookup each (two_factor_credentials' key, audit's (user_id, at)).
TWO_STEP_ON = exists().where(TwoFactorCredential.user_id == User.id, TwoFactorCredential.confirmed_at.isnot(None))
LAST_SIGN_IN = (select(func.max(AuditEvent.at)).where(AuditEvent.user_id == User.id, AuditEvent.event == "sign_in")
                .scalar_subquery())


@dataclass(frozen=True, eq=False)
class MomentColumn(Column):
    """A moment, DD/MM/AAAA HH:MM in TIMEZONE."""

    def text(self, value):
        return fecha_hora(value, self.empty)


def _search(word, desk_id):
    pattern = like_pattern(word)
    return or_(func.lower(User.name).like(pattern, escape="\\"), func.lower(User.email).like(pattern, escape="\\"))


def _scope(desk_id):
    return [Membership.desk_id == desk_id]


USERS = Grid(
    "usuarios",
    tables=Membership.__table__.join(User.__table__, User.id == Membership.user_id),
    scope=_scope,
    key=Membership.id,
    search=_search,
    default_sort="nombre",
    row={"user_id": User.id, "role": Membership.role, "email": User.email},
    row_actions=ROW_ACTIONS,
    empty="Este escritorio aún no tiene usuarios.",
    columns=[
        Column("nombre", "Nombre", User.name),
        Column("correo", "Correo electrónico", User.email),
        Column("rol", "Rol", Membership.role, labels=roles.LABELS, groupable=True,
               html=lambda value: badge(value, roles.label(value)), filter=Choice("rol")),
        Column("dos_pasos", "Dos pasos", TWO_STEP_ON, labels=TWO_STEP),
        MomentColumn("ultimo_ingreso", "Último ingreso", LAST_SIGN_IN, nullable=True, empty="Nunca"),
    ],
)
