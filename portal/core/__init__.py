"""Home, desk switch and health check."""
from flask import Blueprint

bp = Blueprint("core", __name__)

from portal.core import health, views  # noqa: E402,F401
