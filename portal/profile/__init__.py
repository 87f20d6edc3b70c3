"""Mi perfil: Datos generales (name, phone, e-mail, password), Notificaciones and Actividad."""
from flask import Blueprint

bp = Blueprint("profile", __name__, url_prefix="/perfil")

from portal.profile import views, notifications, two_factor_views  # noqa: E402,F401
