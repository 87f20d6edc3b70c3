"""gunicorn settings for production: `gunicorn -c deploy/gunicorn.conf.py app:app`.

Sync workers, two per core (measured here: threads reached a third to two thirds of their
throughput). The app is loaded in the master (preload) and its objects are moved out of the
garbage collector's sight with gc.freeze(), so a full collection no longer walks them: the
slowest requests at one connection went from 29-42 ms to 10-14 ms (docs/PERFORMANCE.md).
Environment: GUNICORN_BIND (127.0.0.1:8000), WEB_CONCURRENCY (workers), GUNICORN_TIMEOUT (30).

The access log (GUNICORN_ACCESS_LOG=- or a file) never shows what a URL may carry in secret: the
token of an e-mailed link (/cuenta/restablecer/<token>, /cuenta/verificar/<token>,
/perfil/correo/confirmar/<token>) is replaced by [oculto], query strings (a key code typed in
Buscar) by ?[…], in the request line, the path, the Referer and Location; Cookie, Authorization
and X-CSRFToken are never logged, whatever access_log_format asks for.
"""
import gc
import multiprocessing
import os
import re

from gunicorn.glogging import Logger

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "sync"
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * multiprocessing.cpu_count())
preload_app = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 10
# A worker starts afresh after this many requests (jittered so they do not all restart together).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"

TOKEN_SEGMENT = re.compile(r"(/(?:restablecer|verificar|confirmar)/)[^/?#\s]+")
SECRET_HEADERS = ("{cookie}i", "{authorization}i", "{x-csrftoken}i", "{set-cookie}o")


def redact_url(url):
    """`url` without its query string and with e-mailed link tokens hidden."""
    base, question, _query = (url or "").partition("?")
    return TOKEN_SEGMENT.sub(r"\1[oculto]", base) + ("?[…]" if question else "")


class RedactingLogger(Logger):
    """gunicorn's logger, with the access log's URLs and secret headers redacted."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        method, _, rest = atoms["r"].partition(" ")
        uri, _, protocol = rest.rpartition(" ")
        atoms["r"] = f"{method} {redact_url(uri)} {protocol}"
        atoms["U"] = redact_url(atoms["U"])
        atoms["q"] = "[…]" if atoms["q"] else ""
        for key in ("f", "{referer}i", "{location}o"):
            if isinstance(atoms.get(key), str) and atoms[key] != "-":
                atoms[key] = redact_url(atoms[key])
        for key in SECRET_HEADERS:
            if key in atoms:
                atoms[key] = "[oculto]"
        return atoms


logger_class = RedactingLogger


def when_ready(server):
    """The app is loaded in the master: freeze it so every forked worker shares it untouched."""
    gc.collect()
    gc.freeze()


def post_fork(server, worker):
    """Whatever the master allocated since when_ready is frozen too, in the worker."""
    gc.freeze()


def post_worker_init(worker):
    """Drop any database connection inherited from the master (each worker opens its own)."""
    from portal.extensions import db

    app = worker.wsgi
    with app.app_context():
        db.engine.dispose(close=False)
