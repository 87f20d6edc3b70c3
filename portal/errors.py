"""Error pages in Spanish: a full page, or for htmx the fragment it shows."""
import logging

from flask import jsonify, request
from markupsafe import escape
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import BadHost, HTTPException, InternalServerError, SecurityError

from portal import request_ids
from portal.deadlines import ReadTooLong, cancelled
from portal.extensions import db
from portal.htmx import is_htmx, render
from portal.limits import RateLimited

log = logging.getLogger("portal.errors")

MESSAGES = {
    400: ("Solicitud no válida", "La solicitud no se pudo procesar. Revisa los datos e inténtalo de nuevo."),
    401: ("Sesión requerida", "Inicia sesión para continuar."),
    403: ("Acceso denegado", "No tienes permiso para realizar esta acción."),
    404: ("Página no encontrada", "Lo que buscas no existe o no pertenece a este escritorio."),
    405: ("Método no permitido", "Esta dirección no acepta esa operación."),
    409: ("Conflicto", "La operación no se pudo completar porque los datos cambiaron."),
    413: ("Solicitud demasiado grande", "Los datos enviados superan el tamaño permitido."),
    422: ("Datos no válidos", "Revisa los datos capturados."),
    429: ("Demasiados intentos", "Has realizado demasiados intentos. Espera unos minutos e inténtalo de nuevo."),
    500: ("Error del servidor", "Ocurrió un error inesperado. Inténtalo de nuevo más tarde."),
    503: ("Consulta demasiado larga", "La consulta tardó demasiado. Acótala e inténtalo de nuevo."),
}
UNTRUSTED_HOST = "La dirección con la que llegaste no corresponde a este portal."
# A read cancelled past STATEMENT_TIMEOUT_SECONDS (portal/deadlines.py).
TOO_SLOW = ("La consulta tardó demasiado y se detuvo. Acota la búsqueda: un periodo más corto, palabras más "
            "precisas o sin agrupar, e inténtalo de nuevo.")
CSRF_MESSAGE = "La sesión del formulario expiró o no es válida. Recarga la página e inténtalo de nuevo."


# The API's error codes: stable, for programs (the message is for people).
API_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
             409: "conflict", 413: "payload_too_large", 422: "validation_failed",
             429: "rate_limited", 500: "internal_error", 503: "query_too_slow"}


def is_api_request():
    """A request to /api/v1, matched to a route or not (a 404 or 405 there answers JSON too)."""
    return request.blueprint == "api" or request.path.startswith("/api/")


def json_error(status, message=None, *, code=None, fields=None, headers=None):
    """The API's error body: {"error": {"code", "message", "fields"?}}."""
    error = {"code": code or API_CODES.get(status, "error"), "message": message or MESSAGES.get(status, MESSAGES[500])[1]}
    if fields:
        error["fields"] = fields
    return jsonify({"error": error}), status, headers or {}


def bare_page(code, message=None):
    """The error page without the layout: for a request no URL can be built for (a Host refused or
    malformed, e.g. a 64-character label), where the layout's url_for would fail."""
    title, default = MESSAGES.get(code, MESSAGES[500])
    folio = request_ids.current_id()
    body = (f'<!doctype html><html lang="es-MX"><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<h1>{escape(title)}</h1><p>{escape(message or default)}</p>"
            + (f"<p>Folio: {escape(folio)}</p>" if folio else "") + "</html>")
    return body, code, {"Content-Type": "text/html; charset=utf-8"}


def host_refused():
    """Whether the request's Host was refused before routing (outside TRUSTED_HOSTS, or not a host
    name at all): no URL of the portal can be built for such a request."""
    return isinstance(request.routing_exception, (SecurityError, BadHost))


def error_response(code, message=None):
    """Render the Spanish error page (or fragment) for `code`."""
    title, default = MESSAGES.get(code, MESSAGES[500])
    if host_refused():
        return bare_page(code, message)
    if is_api_request():
        return json_error(code, message)
    # The folio: the request's ID, in its log lines and audit events, for the customer to quote to support.
    html = render("errors/error.html", block="error_panel", code=code, title=title, message=message or default,
                  folio=request_ids.current_id())
    headers = {}
    if is_htmx():
        # Show the message in the page's message area, whatever element asked.
        headers = {"HX-Retarget": "#page-messages", "HX-Reswap": "innerHTML"}
    return html, code, headers


def rate_limited(error, body=None):
    """The one 429 of the portal: `body` (the view's own page or fragment showing str(error)) or the
    error page, fragment or JSON; always with Retry-After, so a client knows when to come back."""
    headers = {"Retry-After": str(error.retry_after)}
    if body is not None:
        return body, 429, headers
    if is_api_request():
        return json_error(429, str(error), headers=headers)
    html, status, extra = error_response(429, str(error))
    return html, status, {**extra, **headers}


def init_app(app):
    app.register_error_handler(RateLimited, rate_limited)

    @app.errorhandler(SecurityError)
    def _untrusted_host(_error):
        # Refused before any URL (or e-mail link) is built from it.
        return bare_page(400, UNTRUSTED_HOST)

    @app.errorhandler(CSRFError)
    def _csrf(_error):
        return error_response(400, CSRF_MESSAGE)

    @app.errorhandler(HTTPException)
    def _http(error):
        if error.code in (301, 302, 303, 307, 308):
            return error
        body, status, headers = error_response(error.code or 500, _public_description(error))
        allow = dict(error.get_headers()).get("Allow")
        if allow:  # a 405 says which methods the address takes
            headers = {**headers, "Allow": allow}
        return body, status, headers

    @app.errorhandler(OperationalError)
    def _database(error):
        if not cancelled(error):
            return _unexpected(error)
        return _too_slow("una sentencia")

    @app.errorhandler(ReadTooLong)
    def _read_too_long(_error):
        return _too_slow("una lectura de varias sentencias")

    def _too_slow(what):
        log.warning("Consulta cancelada por su límite de tiempo (%s) en %s %s", what, request.method,
                    request.url_rule.rule if request.url_rule else "(sin ruta)")
        db.session.rollback()
        try:
            return error_response(503, TOO_SLOW)
        except OperationalError as again:
            if not cancelled(again):
                raise
            # The page's own reads (the signed-in user, the desk selector) ran out of time too.
            db.session.rollback()
            body, status, headers = bare_page(503, TOO_SLOW)
            if is_htmx():
                headers = {**headers, "HX-Retarget": "#page-messages", "HX-Reswap": "innerHTML"}
            return body, status, headers

    @app.errorhandler(Exception)
    def _unexpected(error):
        # The trace goes to the log, never to the page.
        # The route, not the path: a path can carry an e-mailed link's token (/cuenta/restablecer/<token>).
        log.exception("Error no controlado en %s %s", request.method,
                      request.url_rule.rule if request.url_rule else "(sin ruta)")
        # A failed statement leaves PostgreSQL's transaction aborted; the page's layout still reads
        # (the desk selector), so start clean or the error page itself would fail.
        db.session.rollback()
        return error_response(500)


def _public_description(error):
    """A description the portal wrote itself (abort(code, "texto")), never Werkzeug's English one."""
    description = getattr(error, "description", None)
    if description and description != type(error).description and not isinstance(error, InternalServerError):
        return description
    return None
