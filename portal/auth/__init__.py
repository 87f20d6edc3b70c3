"""Accounts: sign-in, sign-out (and, later, registration and password reset)."""
from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/cuenta")

from portal.auth import views  # noqa: E402,F401
