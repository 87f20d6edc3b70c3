"""WSGI entry for the secrets test: the portal with every logger at DEBUG, on stderr (gunicorn's log)."""
import logging
import sys

logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
# SQLAlchemy keeps its own loggers at WARNING unless asked: every statement, with its parameters' fate.
logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)

from tests.prepaid_wsgi import app  # noqa: E402,F401  (logging first: SQLAlchemy reads its level when it connects)
