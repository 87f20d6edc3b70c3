"""gunicorn settings for production: `gunicorn -c deploy/gunicorn.conf.py app:app`.

Sync workers, two per core: a request is Python holding the GIL most of its time, so threads of
one worker wait for each other where processes do not. The app is loaded in the master (preload)
and its objects are moved out of the garbage collector's sight with gc.freeze(): a full collection
would otherwise walk every object of the app inside whichever request triggers it, and set the
slowest requests (docs/PERFORMANCE.md has the figures).
Environment: GUNICORN_BIND (127.0.0.1:8000), WEB_CONCURRENCY (workers), GUNICORN_TIMEOUT (30).

The access log (GUNICORN_ACCESS_LOG=- or a file) never shows what a URL may carry in secret: the
token of an e-mailed link (/cuenta/restablecer/<token>, /cuenta/verificar/<token>,
/cuenta/definir/<token>, /perfil/correo/confirmar/<token>) is replaced by [oculto], query strings
(a key code typed in Buscar) by ?[…], in the request line, the path, the Referer and Location;
Cookie, Authorization and X-CSRFToken are never logged, whatever access_log_format asks for. The
error log's own lines about a request ("Error handling request /cuenta/definir/…") are redacted
the same way (portal/logs.py holds the rules).
"""
import gc
import multiprocessing
import os

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

SECRET_HEADERS = ("{cookie}i", "{authorization}i", "{x-csrftoken}i", "{set-cookie}o")
# portal.logs is imported where it is used: gunicorn reads this file before it puts the project's
# folder on sys.path.


class RedactingLogger(Logger):
    """gunicorn's logger, with the URLs of its access and error lines and secret headers redacted."""

    def error(self, msg, *args, **kwargs):
        super().error(*_redacted(msg, args), **kwargs)

    def warning(self, msg, *args, **kwargs):
        super().warning(*_redacted(msg, args), **kwargs)

    def exception(self, msg, *args, **kwargs):
        super().exception(*_redacted(msg, args), **kwargs)

    def atoms(self, resp, req, environ, request_time):
        from portal.logs import redact_urls

        atoms = super().atoms(resp, req, environ, request_time)
        atoms["r"] = redact_urls(atoms["r"])
        atoms["U"] = redact_urls(atoms["U"])
        atoms["q"] = "[…]" if atoms["q"] else ""
        for key in ("f", "{referer}i", "{location}o"):
            if isinstance(atoms.get(key), str) and atoms[key] != "-":
                atoms[key] = redact_urls(atoms[key])
        for key in SECRET_HEADERS:
            if key in atoms:
                atoms[key] = "[oculto]"
        return atoms


logger_class = RedactingLogger


def _redacted(msg, args):
    """gunicorn's message and arguments as one redacted text ("Error handling request %s", uri)."""
    from portal.logs import redact_urls

    try:
        text = str(msg) % args if args else str(msg)
    except (TypeError, ValueError):
        text = " ".join(map(str, (msg, *args)))
    # Formatted here, so logging receives no args and leaves any "%" in the text alone.
    return (redact_urls(text),)


def when_ready(server):
    """The app is loaded in the master: freeze it so every forked worker shares it untouched."""
    gc.collect()
    gc.freeze()


def post_fork(server, worker):
    """Whatever the master allocated since when_ready is frozen too, in the worker."""
    gc.freeze()


def post_worker_init(worker):
    """Drop any database connection inherited from the master (each worker opens its own); leave
    SCRIPT_NAME to the portal, which has read it by now."""
    # gunicorn reads SCRIPT_NAME from the environment on every request and refuses a path outside it
    # with its own English 500 page; the portal applies it instead (portal/prefix.py), answering such
    # a path with its Spanish 404. Only the worker forgets it: the master keeps it for a reload.
    os.environ.pop("SCRIPT_NAME", None)
    from portal.extensions import db

    app = worker.wsgi
    with app.app_context():
        db.engine.dispose(close=False)
