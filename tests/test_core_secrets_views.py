"""Secrets never leak: canary values run through the flows of a real deployment, then every log line,
every answer and every stored row is searched for them.

The portal runs under gunicorn with deploy/gunicorn.conf.py (its access log on, every logger at
DEBUG, SQLAlchemy's statements included); the outbox delivers in this process with its log and
stderr captured. A canary may appear only where it belongs: a CDA or a link in its own e-mail, a
link's token in the answer to that very link, a cookie in its Set-Cookie header.
"""
import json
import logging
import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import text

from portal.extensions import db
from tests import factories
from tests.abuse_helpers import record_figure
from tests.accounts_helpers import sign_up_data
from tests.conftest import body_of
from tests.prepaid_helpers import ROOT, gunicorn, server_config, step_token

pytestmark = pytest.mark.abuse  # the fault and abuse suite (docs/TESTING.md)

PASSWORD = "Canario-Clave-7731x"
NEW_PASSWORD = "Canario-Nueva-5523y"
WRONG_PASSWORD = "Canario-Equivocada-9q"
LINK = re.compile(r"https?://\S+")


class Deployment:
    """One browser against gunicorn; keeps every answer it got."""

    def __init__(self, base):
        self.base, self.browser, self.answers = base, requests.Session(), []

    def go(self, method, path, **kwargs):
        response = self.browser.request(method, self.base + path, allow_redirects=False, timeout=30, **kwargs)
        self.answers.append((path, response))
        return response


def _link(messages, address, start):
    found = [m for m in messages if address in m["to"]]
    for url in LINK.findall(body_of(found[-1]["message"])):
        if urlsplit(url).path.startswith(start):
            return urlsplit(url).path
    raise AssertionError(f"sin enlace {start} para {address}")


@pytest.mark.multiprocess
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_canary_secrets_appear_nowhere_but_where_they_belong(app, smtp, deliver, tmp_path, caplog, capfd, log_format):
    """In both LOG_FORMATs: text (gunicorn's and the app's usual lines) and json (the portal's JSON
    handler for every logger, gunicorn's error and access logs in JSON)."""
    email = f"canario-{uuid.uuid4().hex[:6]}@empresa-canario.mx"
    rfc = factories.rfc("CAN")
    log = tmp_path / "gunicorn.log"
    json_logs = log_format == "json"
    config = server_config(app, **({"LOG_FORMAT": "json"} if json_logs else {}))
    caplog.set_level(logging.DEBUG)

    def mail():
        db.session.rollback()
        messages = deliver()
        db.session.rollback()
        return messages

    delivered = []
    with gunicorn(config, workers=2, log=log, app="tests.abuse_json_wsgi:app" if json_logs else "tests.abuse_wsgi:app",
                  args=["-c", str(ROOT / "deploy" / "gunicorn.conf.py")],
                  env={"GUNICORN_ACCESS_LOG": "-", "LOG_FORMAT": log_format}) as base:
        portal = Deployment(base)
        # Crear cuenta with the canary password, and verify it from the e-mail.
        portal.go("POST", "/cuenta/crear", data=sign_up_data(email=email, rfc=rfc, password=PASSWORD,
                                                             password_confirm=PASSWORD))
        delivered += mail()
        verify_path = _link(delivered, email, "/cuenta/verificar/")
        portal.go("GET", verify_path)
        portal.go("POST", verify_path)
        # Sign-in: a wrong canary password, then the right one, remembered.
        portal.go("POST", "/cuenta/ingresar", data={"email": email, "password": WRONG_PASSWORD})
        portal.go("POST", "/cuenta/ingresar", data={"email": email, "password": PASSWORD, "remember": "y"})
        cookies = {name: value for name, value in portal.browser.cookies.items()}
        # Reenviar CDA of a system with a canary CDA.
        desk_id = db.session.execute(text("SELECT id FROM desks WHERE rfc = :rfc"), {"rfc": rfc}).scalar()
        from portal.models import Desk
        service = factories.service(db.session.get(Desk, desk_id), cda="CDA-CANARIO-" + uuid.uuid4().hex[:10].upper())
        cda, serial = service.cda, service.serial
        db.session.rollback()
        portal.go("POST", f"/servicios/{serial}/reenviar-cda", headers={"HX-Request": "true"})
        portal.go("GET", f"/servicios/{serial}/envios-cda")
        # A prepaid key: typed, confirmed, searched for in the list.
        key = factories.prepaid_key().code
        db.session.rollback()
        portal.go("POST", "/claves-prepago/activar", data={"keys": key})
        panel = portal.go("GET", "/claves-prepago/activar/confirmar").text
        portal.go("POST", "/claves-prepago/activar/confirmar", data={"token": step_token(panel),
                                                                    "destination": "mi_negocio", "accept_license": "y"})
        portal.go("GET", f"/claves-prepago?q={key}&desde=2000-01-01")
        # Password reset from the e-mailed link, used twice.
        portal.go("POST", "/cuenta/recuperar", data={"email": email})
        delivered += mail()
        reset_path = _link(delivered, email, "/cuenta/restablecer/")
        portal.go("GET", reset_path, headers={"Referer": base + reset_path})
        portal.go("POST", reset_path, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
                  headers={"Referer": base + reset_path})
        portal.go("GET", reset_path)
        # Signed in again, an e-mail change confirmed from the new address.
        portal.go("POST", "/cuenta/ingresar", data={"email": email, "password": NEW_PASSWORD})
        new_email = "nuevo-" + email
        portal.go("POST", "/perfil/correo", data={"email-new_email": new_email, "email-current_password": NEW_PASSWORD})
        delivered += mail()
        confirm_path = _link(delivered, new_email, "/perfil/correo/confirmar/")
        portal.go("GET", confirm_path)
        portal.go("POST", confirm_path, headers={"Referer": base + confirm_path})
        portal.go("POST", "/cuenta/salir")
        delivered += mail()

    canaries = {"contraseña": PASSWORD, "contraseña nueva": NEW_PASSWORD, "contraseña equivocada": WRONG_PASSWORD,
                "CDA": cda, "clave de prepago": key,
                "token de verificación": verify_path.rsplit("/", 1)[1],
                "token de restablecimiento": reset_path.rsplit("/", 1)[1],
                "token de cambio de correo": confirm_path.rsplit("/", 1)[1],
                **{f"cookie {name}": value for name, value in cookies.items()}}
    # This process's log, but the test's own parts: the SMTP server receiving (that is the e-mail
    # itself) and the HTTP client asking (urllib3 logs the URLs the test requests).
    # (With -s, a handler alembic's logging config left on stderr prints the same records there.)
    theirs = ("mail.log", "urllib3")
    ours = [caplog.handler.format(r) for r in caplog.records if not r.name.startswith(theirs)]
    ours += [line for line in capfd.readouterr().err.splitlines() if not any(name in line for name in theirs)]
    places = _places(Path(log).read_text(errors="replace"), "\n".join(ours), portal.answers)
    hits = [(what, place) for what, secret in canaries.items() for place, content, asked in places
            if secret in content and not _belongs(what, secret, asked)]
    # Positive controls: the logs searched are the real ones (access log lines with the links'
    # tokens hidden, the app's DEBUG lines, SQL statements), and each secret that belongs in an
    # e-mail is there (so the search can find it).
    gunicorn_log = places[0][1]
    if json_logs:
        lines = [json.loads(line) for line in gunicorn_log.splitlines() if line.startswith("{")]
        access = {(line["method"], line["path"], line["status"]) for line in lines if line["logger"] == "gunicorn.access"}
        assert ("POST", "/cuenta/restablecer/[oculto]", 303) in access
        assert ("GET", "/claves-prepago?[…]", 200) in access
        assert any(line["logger"].startswith("sqlalchemy.engine") and line["request_id"] for line in lines)
        assert all(line["request_id"] for line in lines if line["logger"] == "gunicorn.access")
        assert not any(path == "/healthz" for _, path, _ in access)  # the probe gunicorn() waited on: not logged
        assert email not in gunicorn_log and new_email not in gunicorn_log  # nor an address, at DEBUG
    else:
        assert '"POST /cuenta/restablecer/[oculto] HTTP/1.1" 303' in gunicorn_log
        assert re.search(r'"POST /cuenta/restablecer/\[oculto\] HTTP/1.1" 303 .* [0-9a-f]{32}$', gunicorn_log, re.M)
        assert "GET /healthz" not in gunicorn_log  # the probe gunicorn() waited on: not logged
        assert email not in gunicorn_log and new_email not in gunicorn_log  # nor an address, at DEBUG
        assert '"GET /claves-prepago?[…] HTTP/1.1" 200' in gunicorn_log and "sqlalchemy.engine" in gunicorn_log
    in_mail = "\n".join(m["raw"] for m in delivered)
    assert cda in in_mail and canaries["token de restablecimiento"] in in_mail and PASSWORD not in in_mail
    record_figure(f"secretos: canarios (contraseñas, CDA, clave, enlaces, cookies) en registros ({log_format}), respuestas y filas",
                  f"{len(places)} lugares revisados, {len(hits)} apariciones fuera de su correo",
                  "0 apariciones")
    assert hits == []


def _places(gunicorn_log, in_process_log, answers):
    """(place, content, the path asked for) for every log, answer and stored row."""
    places = [("registro de gunicorn (acceso, errores, aplicación en DEBUG)", gunicorn_log, ""),
              ("registro del repartidor de correo (DEBUG) y su stderr", in_process_log, "")]
    for path, response in answers:
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items() if k.lower() != "set-cookie")
        places.append((f"respuesta a {path[:40]}", headers + "\n" + response.text, path))
    for table in ("audit_events", "outbox_messages", "user_sessions", "users", "grid_preferences"):
        rows = db.session.execute(text(f"SELECT * FROM {table}")).all()
        places.append((f"tabla {table}", "\n".join(str(tuple(row)) for row in rows), ""))
    db.session.rollback()
    return places


def _belongs(what, secret, asked):
    """An answer may echo what its own address carried (a link's page posts back to the link), and
    the key's owner sees the key in Claves prepago."""
    return secret in asked or (what == "clave de prepago" and asked.startswith("/claves-prepago"))


# --- request lines: every log that names a URL hides a link's token and the query string ---------

LINK_TOKEN = "Canario-Enlace-" + uuid.uuid4().hex


def _secret_urls(app):
    """A URL for every route with a secret segment (the `secret` converter), the canary in it."""
    from portal.logs import SecretConverter

    urls = []
    for rule in app.url_map.iter_rules():
        secret = {name for name, converter in rule._converters.items() if isinstance(converter, SecretConverter)}
        if secret:
            path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: LINK_TOKEN if m.group(1) in secret else "1", rule.rule)
            urls.append(path)
    return urls


def _token_urls(app):
    """The e-mailed links' routes among them (the others are the API's key routes)."""
    return [url for url in _secret_urls(app) if not url.startswith("/api/")]


def test_every_route_naming_a_secret_declares_it_so_logs_hide_it(app):
    """A new route with a token, a code or a key in its path must use <secret:…>: caught here."""
    from portal.logs import SecretConverter

    undeclared = [rule.rule for rule in app.url_map.iter_rules() for name, converter in rule._converters.items()
                  if re.search(r"token|code|secret|key|clave", name) and not isinstance(converter, SecretConverter)]
    assert undeclared == []
    assert {"/cuenta/verificar/", "/cuenta/restablecer/", "/cuenta/definir/", "/perfil/correo/confirmar/",
            "/api/v1/keys/", "/api/v1/keys//revoke", "/api/v1/keys//assignment"} <= {
        url.replace(LINK_TOKEN, "") for url in _secret_urls(app)}


def test_every_secret_segment_is_hidden_from_request_lines(app):
    from portal.logs import redact_urls

    for url in _secret_urls(app):
        for prefix in ("", "/portal"):  # under an intranet prefix too
            line = redact_urls(f'"GET {prefix}{url}?correo=zqxw%40x.mx HTTP/1.1" 200 -')
            assert LINK_TOKEN not in line and "zqxw" not in line, line
            assert line.startswith(f'"GET {prefix}/') and line.endswith('?[…] HTTP/1.1" 200 -'), line


def test_gunicorn_error_lines_about_a_request_hide_its_url(app, capfd, monkeypatch, tmp_path):
    """gunicorn logs "Error handling request <uri>" when a response fails mid-way: the same logger
    class production uses (deploy/gunicorn.conf.py) writes it redacted."""
    import runpy

    from gunicorn.config import Config

    # The file sets the metrics folder in the environment for the app it preloads: not this process's.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    settings = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    config = Config()
    config.set("errorlog", "-")
    logger = settings["logger_class"](config)
    uri = f"/cuenta/definir/{LINK_TOKEN}?q=ABCD-EFGH"
    try:
        raise RuntimeError("la respuesta se cortó")
    except RuntimeError:
        logger.exception("Error handling request %s", uri)
    logger.error("Error handling request %s %s", "POST", uri)
    logger.warning("Invalid request from ip=127.0.0.1: bad line GET %s HTTP/1.1", uri)
    err = capfd.readouterr().err
    assert err.count("/cuenta/definir/[oculto]?[…]") == 3 and "la respuesta se cortó" in err
    assert LINK_TOKEN not in err and "ABCD" not in err


def test_the_development_servers_request_log_hides_link_tokens(app, live_server, caplog):
    """`make run` serves with Werkzeug, whose request lines go to the "werkzeug" logger."""
    caplog.set_level(logging.INFO, logger="werkzeug")
    for url in _token_urls(app):
        requests.get(live_server.url(url + "?correo=zqxw%40x.mx"), timeout=10, allow_redirects=False)
    lines = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert any("/cuenta/definir/[oculto]?[…]" in line for line in lines), lines
    assert not any(LINK_TOKEN in line or "zqxw" in line for line in lines), lines
