"""gunicorn settings for bench/hello.py: deploy/gunicorn.conf.py's own, read from that file, one hook aside.

Bind (GUNICORN_BIND), workers (WEB_CONCURRENCY), worker class, preload, timeouts, the logger and
gc.freeze() are the portal's, so the floor is served exactly as the portal is. Only post_worker_init
is replaced: the portal's lets go of the database connection a worker inherits, through
Flask-SQLAlchemy, which fails on an app without it; the hello-world holds none.
"""
import os
import runpy

PORTAL = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "deploy", "gunicorn.conf.py")

globals().update({name: value for name, value in runpy.run_path(PORTAL).items() if not name.startswith("__")})


def post_worker_init(worker):
    """Nothing to let go of: the hello-world opens no database connection."""
