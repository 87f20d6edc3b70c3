"""Jinja filters and globals: Spanish dates, the brand, the menu."""
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context
from flask_login import current_user

from portal import roles
from portal.mail.addresses import mask_email
from portal.models.services import CATEGORIES
from portal.urls import here

MENU = [
    ("services.category", {"category": "servidor-virtual"}, "Servidor virtual"),
    ("services.category", {"category": "suscripciones"}, "Suscripciones"),
    ("services.category", {"category": "licenciamiento"}, "Licenciamiento"),
    ("services.category", {"category": "espacio"}, "Espacio"),
    ("services.category", {"category": "polizas"}, "Mis Pólizas"),
    ("services.category", {"category": "sellado-cfdi"}, "Sellado CFDI"),
    ("services.category", {"category": "cursos"}, "Cursos"),
    ("prepaid.activate", {}, "Activar claves de producto- Prepago"),
    ("prepaid.keys", {}, "Claves prepago"),
]


def fecha(value, empty=""):
    """DD/MM/AAAA, the portal's only date format."""
    if value is None:
        return empty
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def fecha_hora(value, empty=""):
    """DD/MM/AAAA HH:MM in the portal's time zone (TIMEZONE, Mexico City by default)."""
    if value is None:
        return empty
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)  # SQLite returns stored UTC without a zone
    return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).strftime("%d/%m/%Y %H:%M")


def init_app(app):
    app.jinja_env.filters["fecha"] = fecha
    app.jinja_env.filters["fecha_hora"] = fecha_hora
    app.jinja_env.filters["mask_email"] = mask_email
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.context_processor
    def _layout():
        from portal.desks import current_desk, desks_of

        context = {
            "brand": current_app.config["BRAND_NAME"],
            "store_url": current_app.config["STORE_URL"],
            "menu": MENU,
            "categories": CATEGORIES,
            "here": here,
        }
        # E-mails are also rendered by the CLI and the outbox worker, where there is no request.
        if has_request_context() and current_user.is_authenticated:
            context["desk"] = desk = current_desk()
            # may("change"), may("manage"): what the user's role in the active desk allows (portal/roles.py),
            # so pages hide what the routes would refuse.
            context["may"] = lambda action: desk is not None and roles.allows(desk.role, action)
            # Called by the layout only, so a fragment costs no query for it.
            context["user_desks"] = lambda: desks_of(current_user)
        return context
