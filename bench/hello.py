"""The floor: a bare Flask app with one JSON route, served beside the portal in every `make bench` run.

No extensions, no configuration, no database: what gunicorn and Flask cost for one request before
any of the portal's own work. The portal's /healthz is not that floor: it goes through the portal's
extensions and request hooks and reads the database. bench/hello_gunicorn.conf.py serves it with
the portal's gunicorn settings.
"""
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    """The smallest JSON answer."""
    return {"status": "ok"}
