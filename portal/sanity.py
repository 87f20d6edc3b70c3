"""Characters no input of the portal may carry, refused before any view sees them.

PostgreSQL cannot store NUL in text (psycopg raises, so a search for "a\\0b" was a 500), and a lone
UTF-16 surrogate cannot be encoded for either database. No address, form or query string of the
portal has a use for them: the request is answered 400 with a Spanish message (the API: 404 for a
path, 422 for a parameter, as its document says; its JSON bodies are checked by json_body()).
"""
import re

from flask import abort, request

from portal.errors import is_api_request

BAD = re.compile("[\x00\ud800-\udfff]")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
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
        # Only form bodies are read here: touching the stream of another body (the API's JSON, which
        # json_body() checks) would fix its size limit before the API sets its own, smaller one.
        form = request.mimetype in FORM_TYPES and _bad_pairs(request.form)
        path, query = bad_text(request.path), _bad_pairs(request.args)
        if is_api_request() and (path or query):
            # The API's documented answers: no such resource, or an invalid parameter.
            abort(404 if path else 422, MESSAGE)
        if form or path or query:
            abort(400, MESSAGE)


def _bad_pairs(multidict):
    return any(bad_text(key) or bad_text(value) for key, value in multidict.items(multi=True))
