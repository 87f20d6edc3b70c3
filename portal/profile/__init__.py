"""Mi perfil: Datos generales (name, phone, e-mail, password), Notificaciones and Actividad."""
from flask import Blueprint

bp = Blueprint("profile", __name__, url_prefix="/perfil")

from portal.profile import views  # noqa: E402,F401
from portal.profile import notifications  # noqa: E402,F401
