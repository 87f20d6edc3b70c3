"""The desk users' e-mails, queued in the outbox in the caller's transaction; links at PORTAL_URL."""
from portal import roles
from portal.mail.outbox import enqueue
from portal.members import links
from portal.urls import public_url


def invitation(invitation, desk, inviter):
    link = public_url("members.invitation", token=links.invitation_token(invitation))
    return enqueue(invitation.email, f"Te invitaron al escritorio {desk.razon_social}", "desk_invitation",
                   kind="desk_invitation", desk=desk, desk_name=desk.razon_social, inviter=inviter.name,
                   inviter_email=inviter.email, role=roles.label(invitation.role), link=link,
                   expires=invitation.expires_at)


def withdrawn(email, desk, owner):
    return enqueue(email, f"Se retiró tu invitación a {desk.razon_social}", "desk_invitation_withdrawn", desk=desk,
                   desk_name=desk.razon_social, owner=owner.name)


def joined(owner, desk, user, role):
    return enqueue(owner.email, f"{user.name} se unió a {desk.razon_social}", "desk_member_joined", user=owner,
                   desk=desk, name=owner.name, desk_name=desk.razon_social, member=user.name,
                   member_email=user.email, role=roles.label(role), page=public_url("members.users"))


def left(owner, desk, user):
    return enqueue(owner.email, f"{user.name} dejó el escritorio {desk.razon_social}", "desk_member_left",
                   user=owner, desk=desk, name=owner.name, desk_name=desk.razon_social, member=user.name,
                   member_email=user.email)


def role_changed(user, desk, owner, role):
    return enqueue(user.email, f"Tu rol en {desk.razon_social} cambió", "desk_role_changed", user=user, desk=desk,
                   name=user.name, desk_name=desk.razon_social, owner=owner.name, role=roles.label(role))


def removed(user, desk, owner):
    return enqueue(user.email, f"Ya no eres usuario de {desk.razon_social}", "desk_member_removed", user=user,
                   desk=desk, name=user.name, desk_name=desk.razon_social, owner=owner.name)


def handover(user, desk, owner):
    link = public_url("members.handover", token=links.handover_token(desk.id, owner.id, user.id))
    return enqueue(user.email, f"Confirma que serás Propietario de {desk.razon_social}", "desk_handover",
                   user=user, desk=desk, name=user.name, desk_name=desk.razon_social, owner=owner.name, link=link)


def handed_over(giver, desk, taker):
    return enqueue(giver.email, f"{taker.name} es ahora Propietario de {desk.razon_social}", "desk_handed_over",
                   user=giver, desk=desk, name=giver.name, desk_name=desk.razon_social, taker=taker.name)
