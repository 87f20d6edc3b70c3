"""The rules of a desk's users (portal/members/rules.py), each transition on SQLite and PostgreSQL:
invite, accept (existing and new account), expire, withdraw, resend, role change, removal, leave,
the last owner, hand-over; what another desk's owner can neither see nor touch; and two owners
removing each other at once."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal import clock, roles
from portal.extensions import db
from portal.units import Work, unit_of_work
from portal.members import links, rules
from portal.models import AuditEvent, DeskInvitation, Membership, OutboxMessage
from tests import factories
from tests.desk_users_helpers import invite, staff


def _events(user):
    return db.session.scalars(select(AuditEvent.event).where(AuditEvent.user_id == user.id)).all()


def _mails_to(address):
    return db.session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == address)).all()


def test_an_owner_invites_and_an_existing_account_joins_with_the_role(app):
    s = staff()
    guest = factories.user(s.other_desk, role="member", name="Gina Invitada")
    invitation = invite(s, guest.email.upper(), "viewer")
    assert invitation.email == guest.email and invitation.role == "viewer"
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)
    [mail] = _mails_to(guest.email)
    assert "/escritorio/invitacion/" in mail.body_text and s.desk.razon_social in mail.subject
    opened = rules.open_invitation(*links.read_invitation(links.invitation_token(invitation)), now=clock.now())
    rules.accept(opened, guest)
    db.session.commit()
    assert rules.role_of(s.desk.id, guest.id) == "viewer"
    assert db.session.get(DeskInvitation, invitation.id) is None  # single use
    assert "desk_invitation_accepted" in _events(guest)
    assert "desk_invitation_accepted" in _events(s.owner)  # the owners are told
    assert any(guest.name in m.subject for m in _mails_to(s.owner.email))


def test_a_new_account_sets_name_and_password_and_joins(app):
    s = staff()
    invitation = invite(s, "recien.llegada@empresa-nueva.mx", "member")
    with pytest.raises(Exception, match="contraseña"):
        rules.accept_as_new(invitation, rules.NewAccount("Rita Nueva", "123"), now=clock.now())
    db.session.rollback()
    user, desk = rules.accept_as_new(invitation, rules.NewAccount("Rita Nueva", "una-clave-larga-7"), now=clock.now())
    db.session.commit()
    assert desk.id == s.desk.id and user.email_verified and rules.role_of(s.desk.id, user.id) == "member"


def test_invitations_refused_for_a_member_the_inviter_a_pending_one_a_bad_address_or_role(app):
    s = staff()
    now = clock.now()
    for email, role, message in [(s.member.email, "member", "ya es usuario"),
                                 (s.owner.email, "member", "No puedes invitarte"),
                                 ("no-es-correo", "member", "correo"),
                                 ("alguien@empresa.mx", "jefe", "Elige un rol")]:
        with pytest.raises(rules.Refused, match=message):
            rules.invite(s.desk, s.owner, email, role, now=now)
        db.session.rollback()
    invite(s, "alguien@empresa.mx")
    with pytest.raises(rules.Refused, match="pendiente"):
        rules.invite(s.desk, s.owner, "alguien@empresa.mx", "member", now=now)
    db.session.rollback()
    for user in (s.member, s.viewer):
        with pytest.raises(roles.RoleRefused, match="Solo puede hacerlo un Propietario"):
            rules.invite(s.desk, user, "otra@empresa.mx", "member", now=now)
        db.session.rollback()


def test_an_invitation_expires_and_a_resend_replaces_its_link(app):
    s = staff()
    invitation = invite(s, "tarde@empresa.mx")
    first = links.invitation_token(invitation)
    clock.travel(timedelta(days=7, seconds=1))
    with pytest.raises(rules.InvitationUnusable, match="venció"):
        rules.open_invitation(invitation.id, invitation.nonce, now=clock.now())
    with pytest.raises(links.LinkError, match="venció"):
        links.read_invitation(first)
    rules.resend(s.desk.id, s.owner, invitation.id, now=clock.now())
    db.session.commit()
    second = links.invitation_token(invitation)
    assert rules.open_invitation(*links.read_invitation(second), now=clock.now()).id == invitation.id
    clock.travel(timedelta(days=-7, seconds=-1))  # the first link, back within its week: replaced anyway
    with pytest.raises(rules.InvitationUnusable, match="reemplazada"):
        rules.open_invitation(*links.read_invitation(first), now=clock.now())


def test_a_withdrawn_invitation_opens_nothing(app):
    s = staff()
    invitation = invite(s, "retirada@empresa.mx")
    token = links.invitation_token(invitation)
    rules.withdraw(s.desk.id, s.owner, invitation.id)
    db.session.commit()
    with pytest.raises(rules.InvitationUnusable):
        rules.open_invitation(*links.read_invitation(token), now=clock.now())
    assert "desk_invitation_withdrawn" in _events(s.owner)
    assert any("retiró" in m.body_text for m in _mails_to("retirada@empresa.mx"))


def test_an_invitation_is_for_its_address_only(app):
    s = staff()
    invitation = invite(s, "solo.esta@empresa.mx")
    with pytest.raises(rules.WrongAccount):
        rules.accept(invitation, s.outsider)


def test_role_change_and_the_last_owner(app):
    s = staff()
    rules.change_role(s.desk.id, s.owner, s.viewer.id, "member")
    db.session.commit()
    assert rules.role_of(s.desk.id, s.viewer.id) == "member"
    assert "desk_member_role_changed" in _events(s.viewer) and _mails_to(s.viewer.email)
    assert "desk_member_role_changed" in _events(s.owner)  # and the owners'
    assert "desk_member_role_changed" not in _events(s.member)  # not a Usuario's business
    with pytest.raises(rules.LastOwner):
        rules.change_role(s.desk.id, s.owner, s.owner.id, "viewer")
    db.session.rollback()
    with pytest.raises(rules.LastOwner):
        rules.leave(s.desk.id, s.owner)
    db.session.rollback()
    rules.change_role(s.desk.id, s.owner, s.member.id, "owner")
    rules.change_role(s.desk.id, s.owner, s.owner.id, "viewer")  # now another owner exists
    db.session.commit()
    assert rules.role_of(s.desk.id, s.owner.id) == "viewer"
    with pytest.raises(roles.RoleRefused):
        rules.change_role(s.desk.id, s.owner, s.member.id, "viewer")


def test_removal_and_leaving(app):
    s = staff()
    rules.remove(s.desk.id, s.owner, s.extra.id)
    rules.leave(s.desk.id, s.viewer)
    db.session.commit()
    assert rules.role_of(s.desk.id, s.extra.id) is None and rules.role_of(s.desk.id, s.viewer.id) is None
    assert "desk_member_removed" in _events(s.extra) and _mails_to(s.extra.email)
    assert "desk_member_left" in _events(s.owner)
    with pytest.raises(roles.RoleRefused):
        rules.remove(s.desk.id, s.member, s.owner.id)


def test_hand_over_is_confirmed_by_the_new_owner_once(app):
    s = staff()
    rules.ask_handover(s.desk.id, s.owner, s.member.id)
    db.session.commit()
    [mail] = [m for m in _mails_to(s.member.email) if "Propietario" in m.subject]
    assert "/escritorio/ceder/" in mail.body_text
    assert rules.role_of(s.desk.id, s.member.id) == "member"  # nothing until confirmed
    desk_id, from_id, to_id = links.read_handover(links.handover_token(s.desk.id, s.owner.id, s.member.id))
    rules.handover(desk_id, from_id, s.member)
    db.session.commit()
    assert (rules.role_of(s.desk.id, s.member.id), rules.role_of(s.desk.id, s.owner.id)) == ("owner", "member")
    with pytest.raises(rules.InvitationUnusable, match="ya se usó"):
        rules.handover(desk_id, from_id, s.member)


def test_another_desks_owner_can_neither_see_nor_touch_this_desks_people(app):
    s = staff()
    invitation = invite(s, "ajena@empresa.mx")
    b = s.other_desk.id
    assert rules.pending_invitations(b) == []
    for attempt in (lambda: rules.resend(b, s.outsider, invitation.id, now=clock.now()),
                    lambda: rules.withdraw(b, s.outsider, invitation.id),
                    lambda: rules.change_role(b, s.outsider, s.member.id, "viewer"),
                    lambda: rules.remove(b, s.outsider, s.member.id),
                    lambda: rules.ask_handover(b, s.outsider, s.member.id)):
        with pytest.raises(rules.NotFound):
            attempt()
        db.session.rollback()
    for attempt in (lambda: rules.withdraw(s.desk.id, s.outsider, invitation.id),
                    lambda: rules.remove(s.desk.id, s.outsider, s.member.id)):
        with pytest.raises(rules.NotFound):
            attempt()
        db.session.rollback()
    assert db.session.get(DeskInvitation, invitation.id) is not None
    assert rules.role_of(s.desk.id, s.member.id) == "member"


def test_two_owners_removing_each_other_at_once_leave_one_owner(app):
    s = staff()
    rules.change_role(s.desk.id, s.owner, s.member.id, "owner")
    db.session.commit()
    desk_id, pairs = s.desk.id, [(s.owner.id, s.member.id), (s.member.id, s.owner.id)]
    user_type = type(s.owner)
    db.session.close()  # the test's own session holds no transaction (SQLite's lock) while they run
    barrier = threading.Barrier(2)
    outcomes = []

    def run(actor_id, target_id):
        # Each as a request to remove would run: a writing unit (SQLite: BEGIN IMMEDIATE).
        with app.app_context(), unit_of_work(db.session, Work.WRITES):
            barrier.wait()  # before any statement: on SQLite the first BEGIN IMMEDIATE holds the lock
            actor = db.session.get(user_type, actor_id)
            try:
                rules.remove(desk_id, actor, target_id)
                db.session.commit()
                outcomes.append("removed")
            except (rules.MemberError, roles.RoleRefused) as error:
                db.session.rollback()
                outcomes.append(type(error).__name__)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    owners = db.session.scalar(select(func.count()).select_from(Membership).where(
        Membership.desk_id == desk_id, Membership.role == "owner"))
    assert owners == 1 and sorted(outcomes)[1] == "removed" and outcomes.count("removed") == 1, outcomes
