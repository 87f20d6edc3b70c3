"""/healthz (is the process alive), /readyz (can it serve: database, Redis, schema) and /metrics.

Both probes are unauthenticated, tiny and written to the log at DEBUG only: a load balancer or
Kubernetes asks every few seconds. /healthz touches nothing outside the process — no database, no
session, no limit, no cookie — so a database outage does not get every process restarted; /readyz
says whether to send it traffic, and names what failed.
"""
import logging

from flask import abort, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from portal import metrics
from portal.core import bp
from portal.extensions import db

log = logging.getLogger("portal.health")


@bp.get("/healthz")
def healthz():
    """The process answers: nothing else is asked."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """200 when the database answers, is at the migrations' head and (with limits in Redis) Redis
    answers; 503 with {"status": "error", "failed": [...]} naming each check that failed."""
    revisions = database_revisions()
    checks = {"database": revisions is not None}
    if revisions is not None:
        checks["migrations"] = revisions == migration_heads(current_app)
    if current_app.config["RATELIMIT_STORAGE_URI"].startswith(("redis", "rediss")):
        checks["redis"] = limits_storage_answers()
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        log.warning("No listo: %s", ", ".join(failed))
        states = {name: "ok" if ok else "error" for name, ok in checks.items()}
        return jsonify(status="error", failed=failed, **states), 503
    return jsonify(status="ok", **{name: "ok" for name in checks})


def database_revisions():
    """The database's alembic revisions (None when it does not answer): a SELECT 1, then the
    revision, on one pooled connection outside any transaction and the ORM session.

    A load balancer asks every few seconds: the probe is the statements alone, without the BEGIN
    and ROLLBACK a session's transaction would send around them.
    """
    try:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("SELECT 1")
            try:
                return {row[0] for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")}
            except SQLAlchemyError:
                return set()  # answers, but was never migrated
    except SQLAlchemyError:
        return None


def migration_heads(app):
    """The migrations' head revisions, read from migrations/versions once per app."""
    heads = app.extensions.get("portal.migration_heads")
    if heads is None:
        from alembic.script import ScriptDirectory

        heads = set(ScriptDirectory(app.extensions["migrate"].directory).get_heads())
        app.extensions["portal.migration_heads"] = heads
    return heads


def limits_storage_answers():
    from portal.limits import EXTENSION

    try:
        return bool(current_app.extensions[EXTENSION].storage.check())
    except Exception:  # noqa: BLE001 - any failure of the storage is "not ready"
        return False


@bp.get("/metrics")
def prometheus_metrics():
    """Prometheus' text format, for METRICS_TOKEN's bearer or METRICS_ADDRESSES; 404 for anyone else."""
    if not metrics.allowed(current_app.config, request.headers.get("Authorization"), request.remote_addr):
        abort(404)
    body, content_type = metrics.exposition(current_app._get_current_object())
    return body, 200, {"Content-Type": content_type, "Cache-Control": "no-store"}
