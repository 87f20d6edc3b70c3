"""The e-mail a user created by the back office gets: they have no password until they choose one."""
from flask import current_app

from portal.auth import tokens
from portal.mail.outbox import enqueue
from portal.urls import public_url

SUBJECT = "Define tu contraseña del Escritorio de Servicios de {brand}"


def send_set_password(user, desk):
    """Queue the "set your password" e-mail in the caller's transaction."""
    brand = current_app.config["BRAND_NAME"]
    enqueue(user.email, SUBJECT.format(brand=brand), "desk_welcome", kind="desk_welcome", desk=desk, user=user,
            name=user.name, email=user.email, razon_social=desk.razon_social, rfc=desk.rfc,
            link=set_password_url(user), days=tokens.MAX_AGE[tokens.SET_PASSWORD] // 86400)


def set_password_url(user):
    """The single-use link where the new user chooses a first password (valid a week)."""
    return public_url("auth.set_password", token=tokens.issue(tokens.SET_PASSWORD, user))
