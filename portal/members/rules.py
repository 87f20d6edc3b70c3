"""Desk users: invitations, roles, removal, leaving and hand-over, as plain functions.

Callers pass the desk (its id), the acting user, `now`; each function checks the actor's role in
the database itself (never only the page's buttons), writes its audit event and its mails in the
caller's transaction, and the caller commits.

A desk always keeps an owner: every change that could take one away first locks the desk's row
(PostgreSQL: SELECT … FOR UPDATE; SQLite's BEGIN IMMEDIATE serialises writers already), so two
owners removing each other at once are applied one after the other, and the second finds the
rule broken and is refused.
"""
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal import audit, limits, roles
from portal.auth.passwords import check_new_password, hash_password
from portal.auth.signin import find_user_by_email
from portal.auth.validation import clean_email
from portal.extensions import db
from portal.members import mails
from portal.models import Desk, DeskInvitation, Membership, User
from portal.models.accounts import new_session_token

INVITATION_DAYS = 7


class MemberError(Exception):
    """A change that is refused; the message says why, in Spanish."""

    status = 409


class NotFound(MemberError):
    status = 404


class Refused(MemberError):
    status = 422


class LastOwner(MemberError):
    status = 409

    def __init__(self):
        super().__init__("El escritorio debe conservar al menos un Propietario: nombra primero a otro Propietario.")


class InvitationUnusable(MemberError):
    status = 400


class WrongAccount(MemberError):
    status = 403


# --- reading ---------------------------------------------------------------------------------

def role_of(desk_id, user_id):
    """The user's role in the desk, or None when not a member."""
    return roles.role_in(desk_id, user_id)


def require(desk_id, user_id, action):
    """RoleRefused unless the user's role in the desk (read now) may do `action`."""
    role = role_of(desk_id, user_id)
    if role is None:
        raise NotFound("No perteneces a este escritorio.")
    roles.require(role, action)
    return role


def owners_of(desk_id):
    return db.session.scalars(select(User).join(Membership).where(
        Membership.desk_id == desk_id, Membership.role == roles.OWNER).order_by(User.id)).all()


def pending_invitations(desk_id):
    """The desk's invitations, newest first (expired ones too: they can be resent)."""
    return db.session.scalars(select(DeskInvitation).where(DeskInvitation.desk_id == desk_id)
                              .order_by(DeskInvitation.created_at.desc(), DeskInvitation.id.desc())).all()


def _record(event, desk_id, concerned, *, actor=None, ip=None, **detail):
    """The event in the Actividad of the person concerned (a user, or None for an address without an
    account) and of each owner of the desk: `member` names the person, `by` who did it."""
    email = concerned.email if isinstance(concerned, User) else concerned
    if actor is not None:
        detail["by"] = actor.email
    told = set()
    for user in ([concerned] if isinstance(concerned, User) else []) + owners_of(desk_id):
        if user.id not in told:
            told.add(user.id)
            audit.record(event, user=user, desk=desk_id, ip=ip, member=email, **detail)


def _lock(desk_id):
    """Serialise the changes of this desk's memberships (see the module's docstring)."""
    db.session.execute(select(Desk.id).where(Desk.id == desk_id).with_for_update())


def _owner_count(desk_id):
    return db.session.scalar(select(func.count()).select_from(Membership).where(
        Membership.desk_id == desk_id, Membership.role == roles.OWNER))


def _member(desk_id, user_id):
    membership = db.session.scalar(select(Membership).where(Membership.desk_id == desk_id,
                                                            Membership.user_id == user_id))
    if membership is None:
        raise NotFound("Esa persona no es usuaria de este escritorio.")
    return membership


def _role(value):
    if value not in roles.ROLES:
        raise Refused("Elige un rol: Propietario, Usuario o Consulta.")
    return value


# --- invitations -----------------------------------------------------------------------------

def invite(desk, inviter, email, role, *, now, ip=None):
    """An owner invites `email` with `role`; the invitee is mailed a link valid INVITATION_DAYS."""
    require(desk.id, inviter.id, roles.MANAGE)
    role = _role(role)
    try:
        email = clean_email(email)
    except ValueError as error:
        raise Refused(str(error).replace("tu correo", "el correo")) from None
    if email == inviter.email.lower():
        raise Refused("No puedes invitarte a ti mismo: ya eres usuario de este escritorio.")
    member = db.session.scalar(select(User).join(Membership).where(
        Membership.desk_id == desk.id, func.lower(User.email) == email))
    if member is not None:
        raise Refused(f"{email} ya es usuario de este escritorio.")
    if db.session.scalar(select(DeskInvitation.id).where(DeskInvitation.desk_id == desk.id,
                                                         DeskInvitation.email == email)) is not None:
        raise Refused(f"Ya hay una invitación pendiente para {email}: puedes reenviarla o retirarla.")
    limits.hit("invitation_desk", desk.id)
    limits.hit("invitation_owner", inviter.id)
    invitation = DeskInvitation(desk_id=desk.id, email=email, role=role, invited_by_id=inviter.id,
                                created_at=now, sent_at=now, expires_at=now + timedelta(days=INVITATION_DAYS))
    db.session.add(invitation)
    try:
        db.session.flush()
    except IntegrityError:  # the same address invited from another tab at the same moment
        raise Refused(f"Ya hay una invitación pendiente para {email}: puedes reenviarla o retirarla.") from None
    invitee = find_user_by_email(email)
    _record("desk_invitation_sent", desk.id, invitee or email, actor=inviter, ip=ip, role=roles.label(role))
    mails.invitation(invitation, desk_by_id(desk.id), inviter)
    return invitation


def _invitation(desk_id, invitation_id):
    invitation = db.session.scalar(select(DeskInvitation).where(DeskInvitation.desk_id == desk_id,
                                                                DeskInvitation.id == invitation_id))
    if invitation is None:
        raise NotFound("Esa invitación ya no está pendiente en este escritorio.")
    return invitation


def resend(desk_id, owner, invitation_id, *, now, ip=None):
    """A new link (the previous one stops working) and INVITATION_DAYS more."""
    require(desk_id, owner.id, roles.MANAGE)
    invitation = _invitation(desk_id, invitation_id)
    limits.hit("invitation_desk", desk_id)
    limits.hit("invitation_owner", owner.id)
    invitation.nonce = new_session_token()
    invitation.sent_at, invitation.expires_at = now, now + timedelta(days=INVITATION_DAYS)
    _record("desk_invitation_resent", desk_id, find_user_by_email(invitation.email) or invitation.email, actor=owner, ip=ip)
    mails.invitation(invitation, desk_by_id(desk_id), owner)
    return invitation


def withdraw(desk_id, owner, invitation_id, *, ip=None):
    """The invitation is deleted: its link opens nothing any more."""
    require(desk_id, owner.id, roles.MANAGE)
    invitation = _invitation(desk_id, invitation_id)
    email = invitation.email
    db.session.delete(invitation)
    _record("desk_invitation_withdrawn", desk_id, find_user_by_email(email) or email, actor=owner, ip=ip)
    mails.withdrawn(email, desk_by_id(desk_id), owner)
    return email


def open_invitation(invitation_id, nonce, *, now):
    """The pending invitation a link names (its last one sent, unexpired), or InvitationUnusable."""
    invitation = db.session.get(DeskInvitation, invitation_id) if isinstance(invitation_id, int) else None
    if invitation is None or invitation.nonce != nonce:
        raise InvitationUnusable("Esta invitación ya se usó, fue retirada o reemplazada por otra más reciente.")
    expires = invitation.expires_at
    if expires.tzinfo is None:  # SQLite returns stored UTC without a zone
        expires = expires.replace(tzinfo=now.tzinfo)
    if now >= expires:
        raise InvitationUnusable("La invitación venció. Pide al Propietario del escritorio que te la reenvíe.")
    return invitation


def accept(invitation, user, *, ip=None):
    """The signed-in account of the invited address joins the desk with the invitation's role."""
    if user.email.lower() != invitation.email:
        raise WrongAccount("Esta invitación es para otra dirección de correo: ingresa con la cuenta de esa "
                           "dirección para aceptarla.")
    _lock(invitation.desk_id)
    desk_id, role = invitation.desk_id, invitation.role
    db.session.delete(invitation)
    if role_of(desk_id, user.id) is None:
        db.session.add(Membership(user_id=user.id, desk_id=desk_id, role=role))
    db.session.flush()
    _record("desk_invitation_accepted", desk_id, user, ip=ip, role=roles.label(role))
    desk = desk_by_id(desk_id)
    for owner in owners_of(desk_id):
        if owner.id != user.id:
            mails.joined(owner, desk, user, role)
    return desk


@dataclass
class NewAccount:
    name: str
    password: str


def accept_as_new(invitation, account, *, now, ip=None):
    """A new account for the invited address (the link proved it), which joins the desk."""
    if find_user_by_email(invitation.email) is not None:
        raise WrongAccount("Ya existe una cuenta con esta dirección: ingresa con ella para aceptar la invitación.")
    check_new_password(account.password, invitation.email)
    user = User(email=invitation.email, name=account.name, phone="", password_hash=hash_password(account.password),
                email_verified_at=now)  # the e-mailed link proved the address
    db.session.add(user)
    db.session.flush()
    audit.record("account_created", user=user, desk=invitation.desk_id, ip=ip)
    return user, accept(invitation, user, ip=ip)


# --- members ---------------------------------------------------------------------------------

def change_role(desk_id, owner, user_id, role, *, ip=None):
    """An owner gives a member another role; the last owner keeps theirs."""
    require(desk_id, owner.id, roles.MANAGE)
    _lock(desk_id)
    require(desk_id, owner.id, roles.MANAGE)  # again, after the lock: another owner may have changed it
    membership = _member(desk_id, user_id)
    role = _role(role)
    if membership.role == role:
        return membership
    if membership.role == roles.OWNER and _owner_count(desk_id) <= 1:
        raise LastOwner()
    before, membership.role = membership.role, role
    _record("desk_member_role_changed", desk_id, membership.user, actor=owner, ip=ip,
            **{"from": roles.label(before), "to": roles.label(role)})
    mails.role_changed(membership.user, desk_by_id(desk_id), owner, role)
    return membership


def remove(desk_id, owner, user_id, *, ip=None):
    """An owner removes a member; their open sessions lose the desk on their next request."""
    require(desk_id, owner.id, roles.MANAGE)
    _lock(desk_id)
    require(desk_id, owner.id, roles.MANAGE)
    if user_id == owner.id:
        return leave(desk_id, owner, ip=ip)
    membership = _member(desk_id, user_id)
    if membership.role == roles.OWNER and _owner_count(desk_id) <= 1:
        raise LastOwner()
    removed = membership.user
    db.session.delete(membership)
    _record("desk_member_removed", desk_id, removed, actor=owner, ip=ip)
    mails.removed(removed, desk_by_id(desk_id), owner)
    return removed


def leave(desk_id, user, *, ip=None):
    """A member leaves the desk; the last owner cannot."""
    _lock(desk_id)
    membership = _member(desk_id, user.id)
    if membership.role == roles.OWNER and _owner_count(desk_id) <= 1:
        raise LastOwner()
    db.session.delete(membership)
    leaver = db.session.get(User, user.id)
    _record("desk_member_left", desk_id, leaver, ip=ip)
    desk = desk_by_id(desk_id)
    for owner in owners_of(desk_id):
        if owner.id != user.id:
            mails.left(owner, desk, leaver)
    return user


def ask_handover(desk_id, owner, user_id, *, ip=None):
    """An owner offers the ownership to a member, who confirms by the e-mailed link (handover())."""
    require(desk_id, owner.id, roles.MANAGE)
    if user_id == owner.id:
        raise Refused("Ya eres Propietario de este escritorio.")
    membership = _member(desk_id, user_id)
    if membership.role == roles.OWNER:
        raise Refused(f"{membership.user.email} ya es Propietario de este escritorio.")
    limits.hit("invitation_owner", owner.id)
    _record("desk_handover_requested", desk_id, membership.user, actor=owner, ip=ip)
    mails.handover(membership.user, desk_by_id(desk_id), owner)
    return membership.user


def handover(desk_id, from_id, to_user, *, ip=None):
    """The member confirms: they become owner and the one who offered becomes Usuario. Once done
    the link is dead (the offerer is no longer an owner)."""
    _lock(desk_id)
    giver = db.session.scalar(select(Membership).where(Membership.desk_id == desk_id, Membership.user_id == from_id))
    if giver is None or giver.role != roles.OWNER:
        raise InvitationUnusable("Este enlace ya se usó o quien lo envió ya no es Propietario del escritorio.")
    taker = db.session.scalar(select(Membership).where(Membership.desk_id == desk_id,
                                                       Membership.user_id == to_user.id))
    if taker is None:
        raise InvitationUnusable("Ya no perteneces a este escritorio.")
    taker.role, giver.role = roles.OWNER, roles.MEMBER
    desk = desk_by_id(desk_id)
    db.session.flush()
    _record("desk_handover_confirmed", desk_id, to_user, actor=giver.user, ip=ip)
    mails.handed_over(giver.user, desk, to_user)
    return desk


# --- helpers ---------------------------------------------------------------------------------

def desk_by_id(desk_id):
    return db.session.get(Desk, desk_id)

