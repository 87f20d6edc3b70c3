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
import logging
import re

from werkzeug.routing import UnicodeConverter

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


def init_app(app):
    _secret_prefixes.update(secret_prefixes(app.url_map))
    if _secret_prefixes:
        alternatives = "|".join(sorted(_secret_prefixes, key=len, reverse=True))
        _secret_pattern[0] = re.compile(f"((?:{alternatives})){SEGMENT}")
    for name in ("sqlalchemy.engine.Engine", "sqlalchemy.engine"):
        _guard(name, NoRows)
    _guard("werkzeug", RedactedRequests)
