"""WSGI entry for the secrets test in JSON: every logger at DEBUG through the portal's own JSON
handler (LOG_FORMAT=json in the app's config), on stderr (gunicorn's log)."""
import logging

logging.getLogger().setLevel(logging.DEBUG)
# SQLAlchemy keeps its own loggers at WARNING unless asked: every statement, with its parameters' fate.
logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)

from tests.prepaid_wsgi import app  # noqa: E402,F401  (logging first: SQLAlchemy reads its level when it connects)
