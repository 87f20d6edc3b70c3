"""What each role of a desk may do: Flask-free, so views, the rules and tests ask the same thing.

Roles (memberships.role): `owner` (Propietario), `member` (Usuario), `viewer` (Consulta).
- Consulta sees every list of the desk and changes nothing in it.
- Usuario also acts on the desk's services and keys (Reenviar CDA, activar claves).
- Propietario also manages the desk: its users, the two-step requirement, its identity provider.
"""
from sqlalchemy import select

from portal.extensions import db
from portal.models import Membership
from portal.models.accounts import MEMBER_ROLES

ROLES = MEMBER_ROLES  # as memberships store them (the table's CHECK), most rights first
OWNER, MEMBER, VIEWER = ROLES
LABELS = {OWNER: "Propietario", MEMBER: "Usuario", VIEWER: "Consulta"}

# The actions a role is checked for.
CHANGE = "change"  # act on the desk's services and keys
MANAGE = "manage"  # the desk's users and settings
ALLOWED = {CHANGE: frozenset({OWNER, MEMBER}), MANAGE: frozenset({OWNER})}
WHO = {CHANGE: "el Propietario o un Usuario del escritorio", MANAGE: "un Propietario del escritorio"}


class RoleRefused(Exception):
    """The role may not do the action; the message says who can, in Spanish."""

    status = 403

    def __init__(self, role, action):
        self.role, self.action = role, action
        super().__init__(f"Tu rol en este escritorio es {label(role)}: no puedes hacer este cambio. "
                         f"Solo puede hacerlo {WHO[action]}.")


def label(role):
    return LABELS.get(role, role or "")


def allows(role, action):
    """May a member with `role` do `action`?"""
    return role in ALLOWED[action]


def require(role, action):
    """RoleRefused unless `role` may do `action`."""
    if not allows(role, action):
        raise RoleRefused(role, action)


def role_in(desk_id, user_id):
    """The user's role in the desk as stored now, or None when not a member."""
    return db.session.scalar(select(Membership.role).where(Membership.desk_id == desk_id,
                                                           Membership.user_id == user_id))


def require_in(desk_id, user_id, action):
    """RoleRefused unless the user's stored role in the desk may do `action` (the rules' own check,
    whatever a page showed); returns the role."""
    role = role_in(desk_id, user_id)
    require(role, action)
    return role
