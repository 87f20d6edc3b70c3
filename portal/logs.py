"""Log guards: whatever level an operator turns on, a secret does not reach a log line.

SQLAlchemy at DEBUG prints every row it fetches — a system's CDA, a key's code, an undelivered
e-mail's body. Statements stay loggable (their parameters are hidden: see config._engine_options);
the rows are dropped.

A URL can carry a secret too: the token of an e-mailed link (/cuenta/restablecer/<token>,
/cuenta/verificar/<token>, /cuenta/definir/<token>, /perfil/correo/confirmar/<token>, an alert's
unsubscribe link /perfil/notificaciones/baja/<token>) and, in a
query string, a key code typed in Buscar. Request lines — gunicorn's access and error logs
(deploy/gunicorn.conf.py) and the development server's — show them redacted.
"""
import logging
import re

ROW = re.compile(r"(\[[^\]]*\] )?Row ")  # "[engine name] " when the engine has a logging_name
# The segment after one of the link routes' words; a test checks every <token> route is covered.
TOKEN_SEGMENT = re.compile(r"(/(?:restablecer|verificar|confirmar|definir|baja)/)[^/?#\s\"]+")
QUERY = re.compile(r"\?[^\s\"]*")


def redact_urls(text):
    """A URL, or a log line naming one ("GET /cuenta/definir/… HTTP/1.1"), with e-mailed link
    tokens hidden and query strings cut."""
    return QUERY.sub("?[…]", TOKEN_SEGMENT.sub(r"\1[oculto]", text or ""))


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
    for name in ("sqlalchemy.engine.Engine", "sqlalchemy.engine"):
        _guard(name, NoRows)
    _guard("werkzeug", RedactedRequests)
