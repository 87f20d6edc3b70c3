"""The e-mail a user created by the back office gets: they have no password until they choose one."""
from flask import current_app, url_for

from portal.mail.outbox import enqueue

# Short: Flask-Mail folds a long accented subject inside a word, and readers then show a space there.
SUBJECT = "Define tu contraseña del Escritorio de Servicios de {brand}"


def send_set_password(user, desk):
    """Queue the "set your password" e-mail in the caller's transaction."""
    brand = current_app.config["BRAND_NAME"]
    enqueue(user.email, SUBJECT.format(brand=brand), "desk_welcome", kind="desk_welcome", desk=desk, user=user,
            name=user.name, email=user.email, razon_social=desk.razon_social, rfc=desk.rfc,
            link=set_password_url())


def set_password_url():
    """Where a new user chooses a password: the sign-in page, whose "¿Olvidaste tu contraseña?" mails a
    single-use link. (When the accounts area's signed reset links are merged, a direct link can go here.)"""
    return url_for("auth.sign_in", _external=True)
