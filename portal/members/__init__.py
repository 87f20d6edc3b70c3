"""Mi escritorio > Usuarios: the desk's members, their roles, invitations and hand-over."""
from flask import Blueprint

bp = Blueprint("members", __name__, url_prefix="/escritorio")

from portal.members import views  # noqa: E402,F401
