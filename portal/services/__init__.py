"""Mis Servicios: the seven category lists."""
from flask import Blueprint

bp = Blueprint("services", __name__, url_prefix="/servicios")

from portal.services import views  # noqa: E402,F401
