"""Request IDs: chosen, returned, logged, stored with the audit events, shown as the error page's folio."""
import logging
import re

import pytest

from portal.extensions import db
from portal.models import AuditEvent
from portal.request_ids import RequestContext, chosen
from tests import factories

GENERATED = re.compile(r"[0-9a-f]{32}")
PROXY_ID = "nginx-7f3a9c2e41d04b"


def test_a_trusted_well_formed_id_is_kept_and_anything_else_is_replaced():
    assert chosen(PROXY_ID, trusted=True) == PROXY_ID
    assert GENERATED.fullmatch(chosen(PROXY_ID, trusted=False))  # a client's own header
    for bad in ("a" * 65, "abcd1234\nforged line", "abcd1234 padded", "abc", "", None, "clave=ABCD-EFGH;x"):
        assert GENERATED.fullmatch(chosen(bad, trusted=True)), bad


def test_a_client_cannot_name_the_id_without_a_trusted_proxy(client):
    response = client.get("/healthz", headers={"X-Request-ID": PROXY_ID})
    assert GENERATED.fullmatch(response.headers["X-Request-ID"])
    assert client.get("/healthz").headers["X-Request-ID"] != response.headers["X-Request-ID"]


@pytest.mark.app_config(PROXY_COUNT=1)
def test_the_proxy_names_the_id_unless_it_is_over_long_or_multi_line(client):
    assert client.get("/healthz", headers={"X-Request-ID": PROXY_ID}).headers["X-Request-ID"] == PROXY_ID
    long = client.get("/healthz", headers={"X-Request-ID": "b" * 200}).headers["X-Request-ID"]
    assert GENERATED.fullmatch(long)
    # A header with a line break cannot even be built by a client library; the WSGI environ can carry one.
    split = client.get("/healthz", environ_overrides={"HTTP_X_REQUEST_ID": "abcd1234\nINFO forged"})
    assert GENERATED.fullmatch(split.headers["X-Request-ID"])


@pytest.mark.app_config(LOG_REQUESTS=True)
def test_the_error_page_shows_the_folio_found_in_the_log_line_of_its_request(client, caplog):
    caplog.set_level(logging.INFO, logger="portal")
    caplog.handler.addFilter(RequestContext())
    response = client.get("/no-existe?correo=alguien@empresa.mx")
    folio = response.headers["X-Request-ID"]
    assert response.status_code == 404
    assert f"Folio: <span class=\"folio\">{folio}</span>" in response.get_data(as_text=True)
    lines = [r for r in caplog.records if getattr(r, "request_id", None) == folio]
    assert len(lines) == 1 and lines[0].name == "portal.request"
    assert lines[0].getMessage().startswith("GET (sin ruta) 404 ") and lines[0].status == 404
    assert "alguien@empresa.mx" not in lines[0].getMessage()  # the route, never the path or its query


def test_the_server_error_page_and_its_logged_trace_share_the_folio(app, client, caplog):
    @app.get("/prueba-falla")
    def _fails():
        raise RuntimeError("falla de prueba")

    caplog.handler.addFilter(RequestContext())
    response = client.get("/prueba-falla")
    folio = response.headers["X-Request-ID"]
    assert response.status_code == 500 and f"Folio: <span class=\"folio\">{folio}</span>" in response.get_data(as_text=True)
    trace = [r for r in caplog.records if r.name == "portal.errors"]
    assert [r.request_id for r in trace] == [folio]


def test_the_audit_events_of_a_request_keep_its_id_and_actividad_shows_it(client, world, login):
    response = client.post("/cuenta/ingresar", data={"email": world.a.user.email, "password": factories.PASSWORD})
    assert response.status_code in (200, 302, 303)
    event = db.session.query(AuditEvent).filter_by(event="sign_in", user_id=world.a.user.id).one()
    assert event.request_id == response.headers["X-Request-ID"]
    page = client.get("/perfil/actividad?cols=fecha,movimiento,folio").get_data(as_text=True)
    assert "Folio" in page and event.request_id in page
    other = client.get("/perfil/actividad").get_data(as_text=True)
    assert event.request_id not in other  # shown from "Columnas", not by default


def test_the_cli_logs_under_its_own_id(app, caplog):
    caplog.set_level(logging.INFO, logger="portal")
    caplog.handler.addFilter(RequestContext())

    @app.cli.command("prueba-id")
    def _note():
        logging.getLogger("portal.prueba").info("hola")

    from portal.cli import outbox_cli
    outbox_cli.add_command(_note)
    try:
        result = app.test_cli_runner().invoke(args=["outbox", "prueba-id"])
    finally:
        outbox_cli.commands.pop("prueba-id")
    assert result.exit_code == 0, result.output
    seen = [r.request_id for r in caplog.records if r.name == "portal.prueba"]
    assert len(seen) == 1 and seen[0].startswith("cli-") and GENERATED.fullmatch(seen[0][4:])


def test_the_outbox_worker_logs_each_round_under_its_own_id(app, caplog):
    from portal.mail.outbox import run_worker

    caplog.set_level(logging.INFO, logger="portal")
    caplog.handler.addFilter(RequestContext())
    rounds = iter([False, False, True])
    run_worker(interval=0, stop=lambda: next(rounds),
               every=(3600, lambda: logging.getLogger("portal.prueba").info("avisos")))
    ids = [r.request_id for r in caplog.records if r.name == "portal.prueba"]
    assert len(ids) == 1 and ids[0].startswith("outbox-")
