"""The accounts' e-mails: each one queued in the outbox, in the caller's transaction.

Links carry a signed token (portal.auth.tokens) and are absolute URLs at PORTAL_URL
(portal.urls.public_url), never at the request's Host: a forged Host cannot point a link elsewhere.
"""
from portal.auth import tokens
from portal.mail.outbox import enqueue, enqueue_for
from portal.models import User
from portal import clock
from portal.urls import public_url


def verification(user, welcome=False, rfc_taken=False):
    """"Verifica tu correo": the link that proves the account's address (also after sign-up)."""
    link = public_url("auth.verify_email", token=tokens.issue(tokens.VERIFY_EMAIL, user))
    subject = "Confirma tu cuenta del Escritorio de Servicios" if welcome else "Verifica tu correo electrónico"
    return enqueue(user.email, subject, "verify_email", kind="verify_email", user=user, name=user.name, link=link,
                   hours=tokens.HOURS[tokens.VERIFY_EMAIL], welcome=welcome, rfc_taken=rfc_taken)


def account_exists(user):
    """Someone tried to sign up with this address: tell its owner, and only them."""
    return enqueue(user.email, "Intento de crear una cuenta con tu correo", "account_exists", user=user,
                   name=user.name, sign_in=public_url("auth.sign_in"),
                   forgot=public_url("auth.forgot"))


def password_reset(user, email):
    """The link to choose a new password (1 hour, single use), to `user`; for None (no account has
    `email`, or its ceiling of mails is spent) the same work — a token signed, the mail rendered, one
    INSERT — and no mail: the answer's cost does not tell whether the account exists."""
    target = user if user is not None else User(id=0, email=email, name="", password_hash="")
    link = public_url("auth.reset", token=tokens.issue(tokens.RESET_PASSWORD, target))
    enqueue_for(user.id if user is not None else 0, target.email, "Restablece tu contraseña", "password_reset",
                name=target.name, link=link, minutes=tokens.MAX_AGE[tokens.RESET_PASSWORD] // 60)


def password_changed(user, when):
    """The account's password changed: if it was not them, they know at once."""
    return enqueue(user.email, "Tu contraseña cambió", "password_changed", user=user, name=user.name, when=when,
                   forgot=public_url("auth.forgot"))


def email_change_confirmation(user, new_email):
    """To the new address: the link that makes it the account's."""
    token = tokens.issue(tokens.CHANGE_EMAIL, user, email=new_email)
    link = public_url("profile.confirm_email", token=token)
    return enqueue(new_email, "Confirma tu nuevo correo electrónico", "email_change_confirm", user=user,
                   name=user.name, link=link, new_email=new_email, hours=tokens.HOURS[tokens.CHANGE_EMAIL])


def email_change_refused(new_email):
    """To an address that already has an account: nothing changes, and its owner knows why."""
    return enqueue(new_email, "Solicitud para usar tu correo en otra cuenta", "email_change_taken",
                   sign_in=public_url("auth.sign_in"))


def email_changed(user, old_email, when):
    """To the old address: the account now uses another one."""
    return enqueue(old_email, "El correo de tu cuenta cambió", "email_changed", user=user, name=user.name,
                   new_email=user.email, when=when, forgot=public_url("auth.forgot"))


def two_factor_changed(user, enabled):
    """Two-factor sign-in was turned on or off: if it was not them, they know at once."""
    event = "two_factor_enabled" if enabled else "two_factor_disabled"
    subject = ("Activaste la verificación en dos pasos" if enabled
               else "Desactivaste la verificación en dos pasos")
    return enqueue(user.email, subject, event, user=user, name=user.name, when=clock.now(),
                   profile=public_url("profile.two_factor_page"),
                   forgot=public_url("auth.forgot"))
