"""Column helpers shared by the models."""
from datetime import datetime, timezone


def utcnow():
    """Aware UTC now; stored naive-UTC-compatible by SQLAlchemy's DateTime(timezone=True)."""
    return datetime.now(timezone.utc)


def check_in(column, values):
    """SQL text for a CHECK that `column` is one of `values`."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"
