"""Actividad: every audit event of the account, on the grid component, never a secret.

The events carry no secret by construction (portal/audit.py's callers pass none); the Detalle
column still shows only the detail keys listed in DETAILS, so whatever a future event records
appears on screen and in the CSV only once someone decides it may.
"""
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app

from portal.clock import day_start
from portal.grid import Choice, Column, DateRange, Grid
from portal.models import AuditEvent
from portal.templating import fecha_hora

LABELS = {
    "sign_in": "Inicio de sesión",
    "sign_in_sso": "Inicio de sesión con la cuenta de tu empresa",
    "sign_in_proxy": "Inicio de sesión con la cuenta de tu empresa (proxy de la intranet)",
    "sign_in_failed": "Intento fallido de inicio de sesión",
    "sign_out": "Cierre de sesión",
    "account_created": "Cuenta creada",
    "sign_up_existing_email": "Intento de crear otra cuenta con tu correo",
    "verification_sent": "Enlace de verificación enviado",
    "email_verified": "Correo verificado",
    "password_reset_requested": "Solicitud para restablecer la contraseña",
    "password_reset_withheld": "Solicitud para restablecer la contraseña sin correo (demasiadas solicitudes)",
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
    "desk_two_factor_required": "Verificación en dos pasos exigida en un escritorio",
    "desk_two_factor_optional": "Verificación en dos pasos opcional en un escritorio",
    "cda_resent": "Reenvío de CDA",
    "prepaid_key_validated": "Clave de prepago validada",
    "prepaid_key_validation_failed": "Clave de prepago rechazada",
    "prepaid_key_validation_limited": "Demasiados intentos de validar claves",
    "prepaid_step_token_refused": "Activación de clave interrumpida",
    "prepaid_key_confirmed": "Clave de prepago confirmada",
    "alert_preferences_changed": "Avisos por correo cambiados",
    "alerts_unsubscribed": "Baja de avisos desde el correo",
    "desk_invitation_sent": "Invitación a un escritorio enviada",
    "desk_invitation_resent": "Invitación a un escritorio reenviada",
    "desk_invitation_withdrawn": "Invitación a un escritorio retirada",
    "desk_invitation_accepted": "Invitación a un escritorio aceptada",
    "desk_member_role_changed": "Rol en un escritorio cambiado",
    "desk_member_removed": "Usuario quitado de un escritorio",
    "desk_member_left": "Usuario dejó un escritorio",
    "desk_handover_requested": "Propiedad de un escritorio ofrecida",
    "desk_handover_confirmed": "Propiedad de un escritorio cedida",
}
OTHER = "Otro movimiento"
DESTINATIONS = {"mi_negocio": "Mi Negocio", "distribuidor": "Distribuidor"}


def _detail(detail):
    """The shown part of an event's detail: serials, masked codes and addresses, destinations."""
    detail = detail if isinstance(detail, dict) else {}
    parts = []
    if detail.get("serial"):
        parts.append(f"No. Serie {detail['serial']}")
    if detail.get("recipient"):
        parts.append(f"enviado a {detail['recipient']}")  # masked when recorded
    if detail.get("key"):
        parts.append(f"Clave {detail['key']}")  # masked when recorded: only the last 4 show
    if detail.get("destination") in DESTINATIONS:
        parts.append(f"Destino: {DESTINATIONS[detail['destination']]}")
    if detail.get("member"):
        parts.append(detail["member"])
    if detail.get("by"):
        parts.append(f"por {detail['by']}")
    if detail.get("role"):
        parts.append(f"Rol: {detail['role']}")
    if detail.get("from") and detail.get("to"):
        parts.append(f"De {detail['from']} a {detail['to']}")
    elif detail.get("to"):
        parts.append(f"A {detail['to']}")
    return " · ".join(parts)


@dataclass(frozen=True, eq=False)
class WhenColumn(Column):
    """A moment, shown DD/MM/AAAA HH:MM in TIMEZONE."""

    def text(self, value):
        return fecha_hora(value)


@dataclass(frozen=True, eq=False)
class EventColumn(Column):
    """The event in the user's words; one without a label yet still shows, as "Otro movimiento"."""

    def text(self, value):
        return LABELS.get(value, OTHER)


@dataclass(frozen=True, eq=False)
class DetailColumn(Column):
    def text(self, value):
        return _detail(value)


@dataclass(frozen=True)
class DayRange(DateRange):
    """Days of TIMEZONE over a moment column: "hasta" includes the whole of its day."""

    def condition(self, column, bounds):
        start, end = bounds
        tz_name = current_app.config["TIMEZONE"]
        parts = []
        if start:
            parts.append(column.expr >= day_start(start, tz_name))
        if end:
            parts.append(column.expr < day_start(end + timedelta(days=1), tz_name))
        return parts[0] if len(parts) == 1 else parts[0] & parts[1]


def _scope(user_id):
    # Only this account's events: another account's never enter the query.
    return [AuditEvent.user_id == user_id]


ACTIVITY = Grid(
    "actividad",
    tables=AuditEvent.__table__,
    scope=_scope,
    key=AuditEvent.id,
    default_sort="-fecha",
    per_page=50,
    empty="Aún no hay movimientos en tu cuenta.",
    columns=[
        WhenColumn("fecha", "Fecha", AuditEvent.at, kind="date", filter=DayRange("desde", "hasta")),
        EventColumn("movimiento", "Movimiento", AuditEvent.event, groupable=True,
                    filter=Choice("tipo", options=list(LABELS.items()))),
        DetailColumn("detalle", "Detalle", AuditEvent.detail, sortable=False),
        Column("ip", "Dirección IP", AuditEvent.ip, nullable=True),
        # The request's ID: the folio an error page showed, to quote to support (shown from "Columnas").
        Column("folio", "Folio", AuditEvent.request_id, nullable=True, visible=False, sortable=False),
    ],
)
