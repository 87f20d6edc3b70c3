"""The back office's JSON API, /api/v1: bearer tokens, the only blueprint without CSRF."""
from flask import Blueprint

from portal.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

from portal.api import http, views  # noqa: E402,F401

http.init_app(bp)
