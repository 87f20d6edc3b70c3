"""A real Prometheus (Debian's `prometheus`) scrapes the portal under gunicorn with several workers,
on loopback with the token every second; its HTTP API then answers each series with the values
the test drove, summed across the workers (and the CLI processes sharing the metrics folder)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest
import requests

from portal.extensions import db
from portal.models import OutboxMessage
from tests import factories
from tests.conftest import IN_CI
from tests.prepaid_helpers import (REDIS_URL, ROOT, gunicorn, redis_or_skip, server_config, step_token)

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
TOKEN = "metricas-" + uuid.uuid4().hex
WORKERS = 3


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prometheus_or_skip():
    if not os.access(PROMETHEUS, os.X_OK):
        message = "prometheus no está instalado (apt-get install prometheus; .ci/run lo instala)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def _start_prometheus(tmp_path, target):
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    (tmp_path / "token").write_text(TOKEN)
    config.write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: portal
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: {tmp_path / "token"}
    static_configs:
      - targets: ["{target}"]
""")
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - closed with the process below
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(base + "/-/ready", timeout=2).status_code == 200:
                return process, base, log
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log.close()
            raise RuntimeError("prometheus no arrancó: " + (tmp_path / "prometheus.log").read_text()[-2000:])
        time.sleep(0.2)


def _flask(config, metrics_dir, *args):
    """A CLI command of the same portal, counting into gunicorn's metrics folder."""
    env = {**os.environ, "PORTAL_TEST_APP_CONFIG": json.dumps(config), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "tests.prepaid_wsgi:app", *args], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.multiprocess
def test_prometheus_scrapes_what_the_portal_counted_across_its_workers(app, backend, world, tmp_path):
    if backend != "sqlite":
        # Counting is in memory whatever the database; the scrape-time outbox query runs on
        # PostgreSQL in tests/test_ops_metrics_views.py. One real scrape keeps the suite's time.
        pytest.skip("Prometheus real: una base basta (el conteo no depende de ella)")
    _prometheus_or_skip()
    redis_or_skip()  # the sign-in limit counted by every worker together
    metrics_dir = tmp_path / "metricas"
    metrics_dir.mkdir()
    closed_port = _free_port()  # nothing listens: every delivery fails
    config = server_config(app, RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX="prom-" + uuid.uuid4().hex,
                           METRICS_TOKEN=TOKEN, MAIL_SERVER="127.0.0.1", MAIL_PORT=closed_port, MAIL_TIMEOUT=2)
    system = factories.service(world.a.desk)
    key = factories.prepaid_key()
    user_a, email_b = world.a.user, world.b.user.email
    serial, code = system.serial, key.code
    db.session.commit()

    with gunicorn(config, workers=WORKERS, app="tests.prepaid_wsgi:app",
                  args=["-c", str(ROOT / "deploy" / "gunicorn.conf.py")],
                  env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}) as base:
        assert requests.get(base + "/metrics", timeout=10).status_code == 404  # no token: nothing there
        prometheus, prom, prom_log = _start_prometheus(tmp_path, base.removeprefix("http://"))
        try:
            browser = requests.Session()
            # Sign-ins: 5 wrong passwords, the 6th attempt limited, and one right one (another account).
            for _ in range(6):
                browser.post(base + "/cuenta/ingresar", data={"email": email_b, "password": "equivocada-987"},
                             allow_redirects=False, timeout=30)
            signed_in = requests.Session()
            right = signed_in.post(base + "/cuenta/ingresar", data={"email": user_a.email, "password": factories.PASSWORD},
                                   allow_redirects=False, timeout=30)
            assert right.status_code in (302, 303)
            # A CDA resend, then a key validated and confirmed.
            resent = signed_in.post(f"{base}/servicios/{serial}/reenviar-cda", headers={"HX-Request": "true"}, timeout=30)
            assert resent.status_code == 200
            assert signed_in.post(base + "/claves-prepago/activar", data={"keys": code}, allow_redirects=False,
                                  timeout=30).status_code == 303
            panel = signed_in.get(base + "/claves-prepago/activar/confirmar", timeout=30).text
            confirmed = signed_in.post(base + "/claves-prepago/activar/confirmar", timeout=30, allow_redirects=False,
                                       data={"token": step_token(panel), "destination": "mi_negocio",
                                             "accept_license": "y"})
            assert confirmed.status_code == 303
            # The worker tries the mail (the SMTP server is down), and the alerts run.
            db.session.rollback()
            pending = db.session.query(OutboxMessage).filter_by(status="pendiente").count()
            db.session.rollback()
            assert pending >= 1
            assert "con error: " + str(pending) in _flask(config, metrics_dir, "outbox", "deliver")
            _flask(config, metrics_dir, "portal", "alerts")

            expected = {
                'portal_sign_ins_total{method="password",outcome="failure"}': 5,
                'portal_sign_ins_total{method="password",outcome="limited"}': 1,
                'portal_sign_ins_total{method="password",outcome="success"}': 1,
                'portal_rate_limits_hit_total{limit="signin_account_address"}': 1,
                'portal_cda_resends_total{outcome="sent"}': 1,
                'portal_key_validations_total{outcome="valid"}': 1,
                'portal_key_confirmations_total{outcome="confirmed"}': 1,
                'portal_request_duration_seconds_count{route="/cuenta/ingresar",method="POST"}': 7,
                'portal_request_duration_seconds_count{route="/servicios/<serial>/reenviar-cda",status="200"}': 1,
                "portal_outbox_failures_total": pending,
                "portal_outbox_deliveries_total": 0,
                "portal_outbox_pending": pending,
                "portal_alerts_mails_queued_total": 0,
            }
            answers = _wait_for(prom, expected)
            assert answers == expected
            # Present, whatever their value: the pool in use (per live worker), when the alerts last ran,
            # the oldest pending mail's age, and the request histogram's buckets.
            present = {"portal_db_pool_in_use": _query(prom, "sum(portal_db_pool_in_use)"),
                       "age": _query(prom, "portal_outbox_oldest_pending_age_seconds"),
                       "alerts": _query(prom, "portal_alerts_last_success_timestamp_seconds"),
                       "p95": _query(prom, "histogram_quantile(0.95, sum by (le) (portal_request_duration_seconds_bucket))")}
            assert all(value is not None for value in present.values()), present
            assert present["age"] >= 0 and present["alerts"] > 0 and present["portal_db_pool_in_use"] >= 0
            # Every query of the Grafana dashboard is one this Prometheus accepts.
            dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
            for panel in dashboard["panels"]:
                for target in panel["targets"]:
                    answer = requests.get(prom + "/api/v1/query", params={"query": target["expr"]}, timeout=10).json()
                    assert answer["status"] == "success", (panel["title"], answer)
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=15)
            prom_log.close()


def _query(prom, expression):
    """The one value of an instant query (None when it has no sample)."""
    answer = requests.get(prom + "/api/v1/query", params={"query": expression}, timeout=10).json()
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def _wait_for(prom, expected, timeout=30):
    """Each series summed across processes, once Prometheus has scraped the last of them."""
    deadline = time.monotonic() + timeout
    while True:
        answers = {series: _query(prom, f"sum({series})") for series in expected}
        if answers == expected or time.monotonic() > deadline:
            return answers
        time.sleep(0.5)
