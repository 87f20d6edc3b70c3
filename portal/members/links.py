"""The signed links of desk users: an invitation and a hand-over, each valid 7 days.

An invitation's link names its row and the row's nonce (a resend replaces it, accepting or
withdrawing deletes the row), so only the last link sent works, once. A hand-over's link names the
desk, the owner who offers and the member who takes; once taken the offerer is no longer an owner
and the link is dead.
"""
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired

from portal.signing import timed_serializer

MAX_AGE = 7 * 24 * 3600
INVITATION = "portal.desks.invitation"
HANDOVER = "portal.desks.handover"


class LinkError(Exception):
    """The link cannot be used; the message says why, in Spanish."""


def _serializer(salt):
    return timed_serializer(current_app.config["SECRET_KEY"], salt)


def _read(salt, token):
    try:
        return _serializer(salt).loads(token, max_age=MAX_AGE)
    except SignatureExpired as error:
        if error.date_signed is None:
            raise LinkError("El enlace no es válido. Revisa que lo hayas copiado completo.") from None
        raise LinkError("El enlace venció. Pide al Propietario del escritorio que te envíe uno nuevo.") from None
    except BadSignature:
        raise LinkError("El enlace no es válido. Revisa que lo hayas copiado completo.") from None


def invitation_token(invitation):
    return _serializer(INVITATION).dumps([invitation.id, invitation.nonce])


def read_invitation(token):
    """(invitation id, nonce) of a genuine, unexpired invitation link."""
    value = _read(INVITATION, token)
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and isinstance(value[1], str)):
        raise LinkError("El enlace no es válido. Revisa que lo hayas copiado completo.")
    return value[0], value[1]


def handover_token(desk_id, from_id, to_id):
    return _serializer(HANDOVER).dumps([desk_id, from_id, to_id])


def read_handover(token):
    """(desk id, offering owner's id, taking member's id) of a genuine, unexpired hand-over link."""
    value = _read(HANDOVER, token)
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, int) for v in value)):
        raise LinkError("El enlace no es válido. Revisa que lo hayas copiado completo.")
    return tuple(value)
