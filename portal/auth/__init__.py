"""Accounts: sign-in and out, Crear cuenta, e-mail verification, password reset."""
from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/cuenta")

from portal.auth import views, second_step, sso_views  # noqa: E402,F401
