"""Prometheus metrics at /metrics (prometheus_client), counted in memory: no database round trip.

Under gunicorn every worker counts in its own files under PROMETHEUS_MULTIPROC_DIR (set up and
cleaned by deploy/gunicorn.conf.py) and /metrics adds them up; `flask outbox deliver --loop` and
`flask portal alerts` run with the same PROMETHEUS_MULTIPROC_DIR add theirs. Without it (the
development server, tests) the process's own registry answers.

Labels are names, never what a person typed: a route is its URL rule (/api/v1/keys/<secret:code>),
so a key's code or a link's token never becomes a label.

/metrics answers only a request bearing METRICS_TOKEN (Authorization: Bearer …) or coming from one
of METRICS_ADDRESSES; anyone else gets the portal's 404, as for an address that does not exist.
The outbox's depth and oldest pending message are read from the database when Prometheus scrapes.
"""
import hmac
import ipaddress
import logging
import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("portal.metrics")
# Read once, as prometheus_client reads it when imported: the mode the counters here were made in.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# Sign-in methods (agreed between the issues of this round): a password, the second step (a TOTP
# or recovery code), an identity provider (OIDC).
SIGN_IN_METHODS = ("password", "second_step", "identity_provider", "trusted_proxy")

REQUEST_SECONDS = Histogram(
    "portal_request_duration_seconds", "Tiempo de respuesta por ruta (regla de URL), método y estado.",
    ("route", "method", "status"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
SIGN_INS = Counter("portal_sign_ins", "Inicios de sesión por método y resultado.", ("method", "outcome"))
CDA_RESENDS = Counter("portal_cda_resends", "Reenvíos de CDA por resultado.", ("outcome",))
KEY_VALIDATIONS = Counter("portal_key_validations", "Validaciones de claves de prepago (paso 1) por resultado.",
                          ("outcome",))
KEY_CONFIRMATIONS = Counter("portal_key_confirmations", "Confirmaciones de claves de prepago (paso 2) por resultado.",
                            ("outcome",))
RATE_LIMITS = Counter("portal_rate_limits_hit", "Solicitudes rechazadas por un límite, por nombre del límite.",
                      ("limit",))
OUTBOX_DELIVERIES = Counter("portal_outbox_deliveries", "Correos entregados por el repartidor.")
OUTBOX_FAILURES = Counter("portal_outbox_failures", "Intentos de entrega fallidos del repartidor.")
ALERTS_LAST_SUCCESS = Gauge("portal_alerts_last_success_timestamp_seconds",
                            "Hora (Unix) de la última corrida de avisos terminada.", multiprocess_mode="max")
ALERTS_MAILS = Counter("portal_alerts_mails_queued", "Correos de avisos puestos en cola.")
DB_POOL_IN_USE = Gauge("portal_db_pool_in_use", "Conexiones de base de datos prestadas a una solicitud.",
                       multiprocess_mode="livesum")


def count_sign_in(method, outcome):
    """One sign-in attempt by `method` (SIGN_IN_METHODS) with `outcome` (success, failure, limited,
    second_step_required…)."""
    SIGN_INS.labels(method=method, outcome=outcome).inc()


def outcome_of(refusal):
    """A refusal's class as an outcome label: TooManyResends → too_many_resends."""
    import re

    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(refusal).__name__).lower()


def count_limit_hit(name):
    RATE_LIMITS.labels(limit=name).inc()


# A client can send any method: the others share one label, so none can add series at will.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(route, method, status, seconds):
    method = method if method in METHODS else "OTRO"
    REQUEST_SECONDS.labels(route=route or "(sin ruta)", method=method, status=str(status)).observe(seconds)


def alerts_run_finished(at, mails):
    ALERTS_LAST_SUCCESS.set(at.timestamp())
    ALERTS_MAILS.inc(mails)


def watch_pool(engine):
    """Count the engine's connections checked out of its pool (pool events; no round trip)."""
    from sqlalchemy import event

    event.listen(engine, "checkout", lambda *_: DB_POOL_IN_USE.inc())
    event.listen(engine, "checkin", lambda *_: DB_POOL_IN_USE.dec())


class OutboxCollector:
    """The outbox's depth and oldest pending message's age, read when Prometheus scrapes."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        from sqlalchemy import func, select

        from portal import clock
        from portal.extensions import db
        from portal.models import OutboxMessage

        depth = GaugeMetricFamily("portal_outbox_pending", "Correos pendientes de entrega.")
        age = GaugeMetricFamily("portal_outbox_oldest_pending_age_seconds",
                                "Antigüedad del correo pendiente más viejo (0 sin pendientes).")
        failed = GaugeMetricFamily("portal_outbox_failed", "Correos que agotaron sus intentos (estado error).")
        try:
            with self.app.app_context():
                with db.engine.connect() as connection:
                    count, oldest = connection.execute(
                        select(func.count(), func.min(OutboxMessage.created_at))
                        .where(OutboxMessage.status == "pendiente")).one()
                    given_up = connection.execute(
                        select(func.count()).where(OutboxMessage.status == "error")).scalar()
        except Exception:  # noqa: BLE001 - the scrape still answers the counters; /readyz says what is down
            log.warning("No se pudo leer el buzón de salida para /metrics")
            return
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=clock.now().tzinfo)
        depth.add_metric([], count)
        age.add_metric([], (clock.now() - oldest).total_seconds() if oldest else 0)
        failed.add_metric([], given_up)
        yield from (depth, age, failed)


def exposition(app):
    """The text Prometheus reads: the counters (every process's, in multiprocess mode; this one's
    otherwise) and the outbox's state, read now."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)
    else:
        from prometheus_client import REGISTRY as counters
    outbox = CollectorRegistry()
    outbox.register(OutboxCollector(app))
    return generate_latest(counters) + generate_latest(outbox), CONTENT_TYPE_LATEST


def allowed(config, authorization, remote_addr):
    """METRICS_TOKEN as a bearer token, or a client address in METRICS_ADDRESSES (addresses or networks)."""
    token = config.get("METRICS_TOKEN")
    if token and authorization:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    for allowed_address in config.get("METRICS_ADDRESSES") or ():
        try:
            if ipaddress.ip_address(remote_addr) in ipaddress.ip_network(allowed_address, strict=False):
                return True
        except ValueError:
            continue
    return False
