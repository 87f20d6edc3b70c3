"""Log guards: whatever level an operator turns on, a secret does not reach a log line.

SQLAlchemy at DEBUG prints every row it fetches — a system's CDA, a key's code, an undelivered
e-mail's body. Statements stay loggable (their parameters are hidden: see config._engine_options);
the rows are dropped.

A URL can carry a secret too: the token of an e-mailed link, a prepaid key's code in the API's
/api/v1/keys/<code>, and in a query string a key code typed in Buscar. A route declares such a
segment with the `secret` converter (`@bp.get("/keys/<secret:code>")`); init_app reads the URL map
and request lines — gunicorn's access and error logs (deploy/gunicorn.conf.py) and the
development server's — show those segments as [oculto] and query strings as ?[…].
"""
import functools
import logging
import re
import sys

from werkzeug.routing import UnicodeConverter

from portal import request_ids

ROW = re.compile(r"(\[[^\]]*\] )?Row ")  # "[engine name] " when the engine has a logging_name
QUERY = re.compile(r"\?[^\s\"]*")
SEGMENT = r'[^/?#\s"]+'
# What the rules with a secret segment start with, up to it: filled from each app's URL map.
_secret_prefixes = set()
_secret_pattern = [re.compile(r"(?!)")]  # matches nothing until an app is built


class SecretConverter(UnicodeConverter):
    """A path segment that is a secret (a link's token, a key's code): never written to a log."""


ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def secret_prefixes(url_map):
    """The regex of each rule's path up to its first secret segment (other arguments: any segment)."""
    prefixes = set()
    for rule in url_map.iter_rules():
        path, at = "", 0
        for argument in ARGUMENT.finditer(rule.rule):
            path += re.escape(rule.rule[at:argument.start()])
            at = argument.end()
            converter = url_map.converters.get(argument.group(1) or "default")
            if isinstance(converter, type) and issubclass(converter, SecretConverter):
                prefixes.add(path)
                break
            path += SEGMENT
    return prefixes


def redact_urls(text):
    """A URL, or a log line naming one ("GET /cuenta/definir/… HTTP/1.1"), with secret path
    segments hidden and query strings cut."""
    return QUERY.sub("?[…]", _secret_pattern[0].sub(r"\1[oculto]", text or ""))


class NoRows(logging.Filter):
    """Drops SQLAlchemy's "Row (…)" debug records."""

    def filter(self, record):
        return not (isinstance(record.msg, str) and ROW.match(record.msg))


class RedactedRequests(logging.Filter):
    """The development server's request lines with their URLs redacted (the record is rewritten)."""

    def filter(self, record):
        record.msg = redact_urls(record.getMessage())
        record.args = ()
        return True


def _guard(logger_name, kind):
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, kind) for f in logger.filters):
        logger.addFilter(kind())


# The probes and the scrape come every few seconds: their request lines are DEBUG, not INFO.
QUIET_ROUTES = {"/healthz", "/readyz", "/metrics"}
request_log = logging.getLogger("portal.request")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# The fields of every JSON line (python-json-logger adds the extras a record carries: status, duration_ms).
JSON_FIELDS = ("levelname", "name", "request_id", "route", "desk_id", "user_id", "message")


def request_finished(context, status, seconds, *, log_requests):
    """The request's count in the metrics and, with LOG_REQUESTS, its one log line (route, status,
    time; the request ID, desk and user through the filter). The route is the URL rule: never the
    path or the query."""
    from portal import metrics

    route = context.route or "(sin ruta)"
    metrics.observe_request(context.route, context.method, status, seconds)
    level = logging.DEBUG if context.route in QUIET_ROUTES or not log_requests else logging.INFO
    if request_log.isEnabledFor(level):
        request_log.log(level, "%s %s %s %.1f ms", context.method, route, status, seconds * 1000,
                        extra={"status": status, "duration_ms": round(seconds * 1000, 1)})


def noting_user(load_user):
    """Flask-Login's user loader, also noting the user and the active desk for the request's log lines."""
    @functools.wraps(load_user)
    def load(user_id):
        user = load_user(user_id)
        context = request_ids.current()
        if user is not None and context is not None:
            context.user_id = user.id
            desk = getattr(user, "desk", None)
            context.desk_id = getattr(desk, "id", None)
        return user
    return load


class _JsonFormatter:
    """python-json-logger's formatter with the portal's field names (time: ISO 8601 in UTC, level, logger)."""

    def __new__(cls):
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter(" ".join(f"%({name})s" for name in JSON_FIELDS), timestamp="time",
                             rename_fields={"levelname": "level", "name": "logger"}, json_ensure_ascii=False)


def formatter(log_format):
    """The formatter of LOG_FORMAT (text or json) for the portal's and gunicorn's handlers."""
    return _JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


class PortalHandler(logging.StreamHandler):
    """The one handler the portal puts on the root logger, with the request's context: to whatever
    sys.stderr is when a line is written (a server or a test may have replaced it since)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def configure(log_format):
    """Log INFO and up to stderr in LOG_FORMAT, every line with its request's ID (once per process)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, PortalHandler)), None)
    if handler is None:
        handler = PortalHandler(sys.stderr)
        handler.addFilter(request_ids.RequestContext())
        # The root's level stays: "portal" logs at INFO (create_app), the libraries at their own
        # (SQLAlchemy at INFO would print every statement).
        root.addHandler(handler)
    handler.setFormatter(formatter(log_format))


def init_app(app):
    @app.before_request
    def _note_route():
        # The URL rule names the route for the log line and the metrics (never the raw path).
        from flask import request

        context = request_ids.current()
        if context is not None and request.url_rule is not None:
            context.route = request.url_rule.rule

    _secret_prefixes.update(secret_prefixes(app.url_map))
    if _secret_prefixes:
        alternatives = "|".join(sorted(_secret_prefixes, key=len, reverse=True))
        _secret_pattern[0] = re.compile(f"((?:{alternatives})){SEGMENT}")
    for name in ("sqlalchemy.engine.Engine", "sqlalchemy.engine"):
        _guard(name, NoRows)
    _guard("werkzeug", RedactedRequests)
