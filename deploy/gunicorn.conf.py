"""gunicorn settings for production: `gunicorn -c deploy/gunicorn.conf.py app:app`.

Sync workers, two per core (measured here: threads reached a third to two thirds of their
throughput). The app is loaded in the master (preload) and its objects are moved out of the
garbage collector's sight with gc.freeze(), so a full collection no longer walks them: the
slowest requests at one connection went from 29-42 ms to 10-14 ms (docs/PERFORMANCE.md).
Environment: GUNICORN_BIND (127.0.0.1:8000), WEB_CONCURRENCY (workers), GUNICORN_TIMEOUT (30).
"""
import gc
import multiprocessing
import os

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
