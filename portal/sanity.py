"""Characters no input of the portal may carry, refused before any view sees them.

PostgreSQL cannot store NUL in text (psycopg raises, so a search for "a\\0b" was a 500), and a lone
UTF-16 surrogate cannot be encoded for either database. No address, form or query string of the
portal has a use for them: the request is answered 400 with a Spanish message (JSON for the API).
"""
import re

from flask import abort, request

BAD = re.compile("[\x00\ud800-\udfff]")
MESSAGE = "La solicitud contiene caracteres no válidos. Revisa los datos e inténtalo de nuevo."


def bad_text(value):
    """True when `value` (a str, or a list/dict of them, as JSON decodes) holds a refused character."""
    if isinstance(value, str):
        return BAD.search(value) is not None
    if isinstance(value, dict):
        return any(bad_text(k) or bad_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(bad_text(item) for item in value)
    return False


def init_app(app):
    @app.before_request
    def _refuse_bad_characters():
        if bad_text(request.path) or _bad_pairs(request.args) or (request.method != "GET" and _bad_pairs(request.form)):
            abort(400, MESSAGE)


def _bad_pairs(multidict):
    return any(bad_text(key) or bad_text(value) for key, value in multidict.items(multi=True))
