"""What is due on a given day, raised as alerts in one INSERT … SELECT per kind.

Every statement inserts the due (kind, subject, period) rows ON CONFLICT DO NOTHING: a row
another run already inserted — committed, or in flight on another host, which PostgreSQL makes
this statement wait for — is skipped, so an alert is raised by exactly one run. The rows this
run raised carry its `batch`, and mails.py writes their mails in the same transaction.
"""
from datetime import timedelta

from sqlalchemy import String, case, cast, exists, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from portal.extensions import db
from portal.models import Alert, AlertPreference, PrepaidKey, Service, StampMovement

VALIDITY_CATEGORIES = ("polizas", "servidor-virtual", "espacio", "cursos")
KEY_DAYS = 30
# kind -> (date column, categories, first and last day ahead). The windows do not overlap, so a
# run that missed a day still raises each alert, and never both of a pair for one date.
SERVICE_WINDOWS = {
    "payment_7": (Service.next_payment_on, ("suscripciones",), 2, 7),
    "payment_1": (Service.next_payment_on, ("suscripciones",), 0, 1),
    "validity_30": (Service.valid_until, VALIDITY_CATEGORIES, 8, 30),
    "validity_7": (Service.valid_until, VALIDITY_CATEGORIES, 0, 7),
}
COLUMNS = ["kind", "subject_id", "period", "desk_id", "batch", "created_at"]


def raise_alerts(today, batch, now):
    """Insert every alert due on `today` that no run raised yet; {kind: rows this run raised}."""
    raised = {}
    for kind, (column, categories, first, last) in SERVICE_WINDOWS.items():
        raised[kind] = _insert(select(
            literal(kind), Service.id, _iso(column), Service.desk_id, literal(batch), literal(now),
        ).where(
            Service.category.in_(categories), Service.status == "activo",
            column.between(today + timedelta(days=first), today + timedelta(days=last)),
        ).order_by(Service.id))
    raised["keys_expiring"] = _insert(select(
        literal("keys_expiring"), PrepaidKey.id, _iso(PrepaidKey.expires_on), PrepaidKey.desk_id,
        literal(batch), literal(now),
    ).where(
        PrepaidKey.status == "disponible", PrepaidKey.destination == "distribuidor",
        PrepaidKey.expires_on.between(today, today + timedelta(days=KEY_DAYS)),
    ).order_by(PrepaidKey.id))
    _rearm_stamp_alerts()
    raised["stamps_low"] = _insert(select(
        literal("stamps_low"), AlertPreference.id, cast(AlertPreference.stamp_period, String),
        AlertPreference.desk_id, literal(batch), literal(now),
    ).where(
        AlertPreference.low_stamps.is_(True), AlertPreference.stamp_threshold.is_not(None),
        balance_of(AlertPreference.desk_id) < AlertPreference.stamp_threshold,
    ).order_by(AlertPreference.id))
    return raised


def balance_of(desk_id):
    """The available stamps of `desk_id` (a column or a value) as a scalar subquery."""
    signed = case((StampMovement.kind == "consumo", -StampMovement.quantity), else_=StampMovement.quantity)
    return (select(func.coalesce(func.sum(signed), 0))
            .where(StampMovement.desk_id == desk_id).scalar_subquery())


def _rearm_stamp_alerts():
    """A balance back at or above its threshold after an alert opens the next period: the next
    fall is a new alert, and a balance that stays low is not alerted again."""
    alerted = exists().where(
        Alert.kind == "stamps_low", Alert.subject_id == AlertPreference.id,
        Alert.period == cast(AlertPreference.stamp_period, String),
    )
    db.session.execute(
        update(AlertPreference)
        .where(AlertPreference.stamp_threshold.is_not(None),
               balance_of(AlertPreference.desk_id) >= AlertPreference.stamp_threshold, alerted)
        .values(stamp_period=AlertPreference.stamp_period + 1)
        .execution_options(synchronize_session=False)
    )


def _insert(query):
    """INSERT INTO alerts … SELECT `query` ON CONFLICT DO NOTHING; the number of rows inserted."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (dialect.insert(Alert.__table__).from_select(COLUMNS, query)
                 .on_conflict_do_nothing(index_elements=["kind", "subject_id", "period"]))
    # An INSERT's rowcount is kept only when asked for (SQLAlchemy 2.x).
    return db.session.execute(statement.execution_options(preserve_rowcount=True)).rowcount


def _iso(column):
    """A date as AAAA-MM-DD text, the period of date-bound alerts, the same on both databases."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM-DD")
    return cast(column, String)  # SQLite keeps dates as that text already
