"""The unsubscribe link of every alert mail: a signed (user, desk, group), no table behind it.

It does not expire (an old mail's link still works) and using it twice is harmless; the page it
opens changes nothing until its button is pressed, so a mail scanner's visit unsubscribes nobody.
"""
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

SALT = "portal.alerts.unsubscribe"
# Preference column -> what the user stops receiving, in their words.
GROUPS = {
    "payments": "los avisos de próximo pago de tus suscripciones",
    "validity": "los avisos de vencimiento de pólizas, servidores virtuales, espacio y cursos",
    "expiring_keys": "los avisos de claves de prepago Disponibles por vencer",
    "low_stamps": "los avisos de saldo bajo de timbres",
}


class LinkInvalid(Exception):
    def __init__(self):
        super().__init__("El enlace para dejar de recibir avisos no es válido. Revisa que lo hayas copiado completo.")


def issue(user_id, desk_id, group):
    """The token of one user's alerts of `group` in one desk."""
    return _serializer().dumps([user_id, desk_id, group])


def read(token):
    """(user id, desk id, group) of a genuine token; LinkInvalid otherwise."""
    try:
        user_id, desk_id, group = _serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        raise LinkInvalid() from None
    if not (isinstance(user_id, int) and isinstance(desk_id, int) and group in GROUPS):
        raise LinkInvalid()
    return user_id, desk_id, group


def _serializer():
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)
