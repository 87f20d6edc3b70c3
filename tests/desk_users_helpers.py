"""A desk with one member of each role, and another desk whose owner is the outsider."""
from dataclasses import dataclass

from portal import clock
from portal.extensions import db
from portal.members import rules
from portal.models import Desk, User
from tests import factories


@dataclass
class Staff:
    desk: Desk
    owner: User
    member: User
    viewer: User
    extra: User  # a second Usuario, for the removal
    outsider: User  # owner of another desk
    other_desk: Desk

    def by_role(self, role):
        return getattr(self, role)


def staff(kind="distribuidor"):
    desk = factories.desk(kind)
    other = factories.desk("cliente")
    return Staff(desk, factories.user(desk, role="owner", name="Olga Propietaria"),
                 factories.user(desk, role="member", name="Mario Usuario"),
                 factories.user(desk, role="viewer", name="Vera Consulta"),
                 factories.user(desk, role="member", name="Ernesto Extra"),
                 factories.user(other, role="owner", name="Oscar Ajeno"), other)


def invite(staff, email, role="member"):
    invitation = rules.invite(staff.desk, staff.owner, email, role, now=clock.now())
    db.session.commit()
    return invitation
