"""Actividad: the account's own history, from the audit log."""
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent

PER_PAGE = 50

# The account events a user sees, in their words. Other areas' events (CDA, keys) live in their
# own screens; this page is the account's security history.
LABELS = {
    "sign_in": "Inicio de sesión",
    "sign_in_failed": "Intento fallido de inicio de sesión",
    "sign_out": "Cierre de sesión",
    "account_created": "Cuenta creada",
    "sign_up_existing_email": "Intento de crear otra cuenta con tu correo",
    "verification_sent": "Enlace de verificación enviado",
    "email_verified": "Correo verificado",
    "password_reset_requested": "Solicitud para restablecer la contraseña",
    "password_reset": "Contraseña restablecida desde el correo",
    "password_changed": "Contraseña cambiada",
    "email_change_requested": "Solicitud de cambio de correo",
    "email_changed": "Correo cambiado",
    "profile_updated": "Datos generales actualizados",
    "two_factor_enabled": "Verificación en dos pasos activada",
    "two_factor_disabled": "Verificación en dos pasos desactivada",
    "two_factor_ok": "Código de verificación correcto",
    "two_factor_failed": "Código de verificación incorrecto",
    "recovery_code_used": "Código de recuperación usado",
    "recovery_codes_regenerated": "Nuevos códigos de recuperación",
}


def recent_events(user, page=1):
    """One page of the user's account events, newest first, and whether older ones exist."""
    rows = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.user_id == user.id, AuditEvent.event.in_(LABELS))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .offset((page - 1) * PER_PAGE)
        .limit(PER_PAGE + 1)
    ).all()
    return rows[:PER_PAGE], len(rows) > PER_PAGE
