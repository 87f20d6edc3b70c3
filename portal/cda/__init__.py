"""Reenviar CDA: a system's activation code e-mailed to the account."""
from flask import Blueprint

bp = Blueprint("cda", __name__, url_prefix="/servicios")

from portal.cda import views  # noqa: E402,F401
