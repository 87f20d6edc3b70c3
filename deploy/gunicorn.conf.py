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
the same way (portal/logs.py holds the rules). Each access line ends with the request's ID.

LOG_FORMAT=json: the error and access logs write one JSON object a line, as the portal does
(portal/logs.py): an access line carries time, level, logger, request_id, method, path (redacted),
status, duration_ms and bytes — never the query string, a header's secret or the user agent.

Metrics: every worker counts in its own files under PROMETHEUS_MULTIPROC_DIR (a fresh temporary
folder when unset) and /metrics adds them up; at start the files of processes no longer running
are removed, and a worker that exits is marked dead (its live gauges stop counting).
"""
import gc
import multiprocessing
import os
import tempfile

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
# gunicorn's own format, and the request's ID (the response's X-Request-ID header) at the end.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")

# Before the app is loaded (preload): prometheus_client reads it when first imported.
_OWN_METRICS_FOLDER = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_METRICS_FOLDER:
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="portal-metricas-"))

QUIET_PATHS = ("/healthz", "/readyz", "/metrics")
SECRET_HEADERS = ("{cookie}i", "{authorization}i", "{x-csrftoken}i", "{set-cookie}o")
# portal.logs is imported where it is used: gunicorn reads this file before it puts the project's
# folder on sys.path.


class RedactingLogger(Logger):
    """gunicorn's logger, with the URLs of its access and error lines and secret headers redacted;
    with LOG_FORMAT=json, its lines are JSON objects."""

    def setup(self, cfg):
        super().setup(cfg)
        if LOG_FORMAT == "json":
            from portal.logs import formatter
            from portal.request_ids import RequestContext

            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    handler.setFormatter(formatter("json"))
                    handler.addFilter(RequestContext())

    def access(self, resp, req, environ, request_time):
        # The probes and the scrape, every few seconds, answered well: not logged (the portal logs
        # them at DEBUG); a failing one is.
        if req.path.endswith(QUIET_PATHS) and resp.status_code < 400:
            return None
        if LOG_FORMAT != "json":
            return super().access(resp, req, environ, request_time)
        if not self.access_log_enabled:
            return None
        from portal.logs import redact_urls

        request_id = next((v for k, v in resp.headers if k.lower() == "x-request-id"), None)
        duration_ms = round(request_time.total_seconds() * 1000, 1)
        path = redact_urls(req.path) + ("?[…]" if req.query else "")
        status = resp.status_code
        self.access_log.info("%s %s %s", req.method, path, status,
                             extra={"request_id": request_id, "method": req.method, "path": path,
                                    "status": status, "duration_ms": duration_ms,
                                    "bytes": getattr(resp, "sent", None)})
        return None

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


def on_starting(server):
    """Metrics: remove the files of processes no longer running (a previous start's workers); an
    outbox worker still running on the same folder keeps its own."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        pid = name.rsplit("_", 1)[-1].removesuffix(".db")
        if name.endswith(".db") and (not pid.isdigit() or not _running(int(pid))):
            os.remove(os.path.join(folder, name))


def on_exit(server):
    """The temporary metrics folder gunicorn made for itself goes with it."""
    if _OWN_METRICS_FOLDER:
        import shutil

        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def child_exit(server, worker):
    """A worker that exits stops counting in the live gauges (connections in use)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


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
