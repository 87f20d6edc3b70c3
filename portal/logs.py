"""Log guards: whatever level an operator turns on, a secret does not reach a log line.

SQLAlchemy at DEBUG prints every row it fetches — a system's CDA, a key's code, an undelivered
e-mail's body. Statements stay loggable (their parameters are hidden: see config._engine_options);
the rows are dropped.
"""
import logging
import re

ROW = re.compile(r"(\[[^\]]*\] )?Row ")  # "[engine name] " when the engine has a logging_name


class NoRows(logging.Filter):
    """Drops SQLAlchemy's "Row (…)" debug records."""

    def filter(self, record):
        return not (isinstance(record.msg, str) and ROW.match(record.msg))


def init_app(app):
    for name in ("sqlalchemy.engine.Engine", "sqlalchemy.engine"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, NoRows) for f in logger.filters):
            logger.addFilter(NoRows())
