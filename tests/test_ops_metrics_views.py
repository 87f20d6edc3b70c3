"""/metrics: Prometheus' text format for the token or the listed addresses only; what it counts."""
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from portal.extensions import db
from tests import factories

TOKEN = "metricas-" + "x" * 24
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def samples(client):
    """{(name, frozenset(labels)): value} of one scrape."""
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True)) for s in family.samples}


def value(scrape, name, **labels):
    return scrape.get((name, frozenset(labels.items())), 0)


@pytest.mark.app_config(METRICS_TOKEN=TOKEN)
def test_metrics_are_a_404_without_the_token_or_a_listed_address(client):
    for headers in ({}, {"Authorization": "Bearer otro"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 404 and "Página no encontrada" in response.get_data(as_text=True)
    assert client.get("/metrics", headers=BEARER).status_code == 200


def test_metrics_are_a_404_when_nothing_opens_them(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.app_config(METRICS_ADDRESSES=["10.0.5.0/24", "127.0.0.1"])
def test_metrics_open_to_the_listed_addresses(client):
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_overrides={"REMOTE_ADDR": "10.0.5.7"}).status_code == 200
    assert client.get("/metrics", environ_overrides={"REMOTE_ADDR": "10.0.6.7"}).status_code == 404


@pytest.mark.app_config(METRICS_TOKEN=TOKEN)
def test_requests_are_counted_by_route_rule_never_by_path(app, client, world, login):
    before = samples(client)
    login(world.a.user)
    code = factories.prepaid_key().code
    db.session.commit()
    client.get(f"/api/v1/keys/{code}")
    client.get("/servicios/suscripciones")
    after = samples(client)
    rule = ("portal_request_duration_seconds_count", dict(route="/servicios/<category>", method="GET", status="200"))
    assert value(after, rule[0], **rule[1]) - value(before, rule[0], **rule[1]) == 1
    text = client.get("/metrics", headers=BEARER).get_data(as_text=True)
    assert code not in text and "/api/v1/keys/<secret:code>" in text
    assert re.search(r'portal_request_duration_seconds_bucket\{le="0.005",method="GET",route="/servicios/<category>"', text)


@pytest.mark.app_config(METRICS_TOKEN=TOKEN)
def test_sign_ins_limits_and_the_outbox_are_counted(client, world):
    before = samples(client)
    email = world.a.user.email
    for _ in range(6):
        client.post("/cuenta/ingresar", data={"email": email, "password": "equivocada-1234"})
    client.post("/cuenta/ingresar", data={"email": world.b.user.email, "password": factories.PASSWORD})
    after = samples(client)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("portal_sign_ins_total", method="password", outcome="failure") == 5
    assert grew("portal_sign_ins_total", method="password", outcome="limited") == 1
    assert grew("portal_sign_ins_total", method="password", outcome="success") == 1
    assert grew("portal_rate_limits_hit_total", limit="signin_account_address") == 1
    # The outbox is read from the database when scraped: the sign-up mails of nobody yet, so 0.
    assert value(after, "portal_outbox_pending") == 0
    assert value(after, "portal_outbox_oldest_pending_age_seconds") == 0


@pytest.mark.app_config(METRICS_TOKEN=TOKEN)
def test_a_made_up_method_adds_no_series_of_its_own(client):
    client.open("/healthz", method="INVENTADO")
    text = client.get("/metrics", headers=BEARER).get_data(as_text=True)
    assert "INVENTADO" not in text and 'method="OTRO"' in text


@pytest.mark.app_config(METRICS_TOKEN=TOKEN)
def test_counting_a_request_costs_no_database_round_trip(client, monkeypatch):
    """The same statements reach the database whether the request is counted or not (and the
    liveness probe sends none at all)."""
    from sqlalchemy import event

    from portal import metrics

    def statements_of(path):
        sent = []
        listener = lambda *args: sent.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get(path).status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return sent

    assert statements_of("/healthz") == []
    counted = statements_of("/cuenta/ingresar")
    monkeypatch.setattr(metrics, "observe_request", lambda *args: None)
    assert statements_of("/cuenta/ingresar") == counted


def _exposed_names(text):
    """Every series name /metrics can carry: each family's, with a histogram's and a counter's suffixes."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.add(name)
            if kind == "histogram":
                names.update({name + "_bucket", name + "_count", name + "_sum"})
    return names


@pytest.mark.app_config(METRICS_TOKEN=TOKEN)
def test_every_metric_the_dashboard_and_the_scrape_sample_name_is_exposed(client):
    import json
    from pathlib import Path

    deploy = Path(__file__).resolve().parent.parent / "deploy"
    dashboard = json.loads((deploy / "grafana-dashboard.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    named = set(re.findall(r"\bportal_[a-z_]+", " ".join(expressions)))
    exposed = _exposed_names(client.get("/metrics", headers=BEARER).get_data(as_text=True))
    assert named and named <= exposed, named - exposed
    titles = " ".join(panel["title"] for panel in dashboard["panels"]).lower()
    for subject in ("ruta", "p95", "errores", "sesión", "claves", "buzón", "límites"):
        assert subject in titles, subject
    sample = (deploy / "prometheus.yml").read_text()
    assert "metrics_path: /metrics" in sample and "type: Bearer" in sample


def test_gunicorn_clears_dead_processes_metric_files_at_start_and_keeps_live_ones(monkeypatch, tmp_path):
    import os
    import runpy
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(done.stdout)  # a process that has exited
    for name in (f"counter_{dead}.db", f"gauge_livesum_{dead}.db", f"counter_{os.getpid()}.db", "notas.txt"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    settings = runpy.run_path(str(Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py"))
    settings["on_starting"](None)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"counter_{os.getpid()}.db", "notas.txt"]
    settings["on_exit"](None)  # a folder it was given, not one it made: left alone
    assert tmp_path.is_dir()
