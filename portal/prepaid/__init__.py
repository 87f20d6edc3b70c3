"""Claves prepago: activation and the list."""
from flask import Blueprint

bp = Blueprint("prepaid", __name__, url_prefix="/claves-prepago")

from portal.prepaid import views  # noqa: E402,F401
