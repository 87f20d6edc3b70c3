"""Fixtures: the app on each real database, a real SMTP server, a real browser.

Every database test runs on SQLite, and on PostgreSQL when PORTAL_TEST_POSTGRES names a server
(`.ci/run` always does; in CI a missing PostgreSQL or Chromium fails the run, never skips it).
"""
import contextvars
import os
import re
import socket
import threading
import uuid
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from flask import has_app_context
from flask.testing import FlaskCliRunner, FlaskClient
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from portal import clock, create_app
from portal.extensions import db
from tests import factories
from tests.clock_helpers import CLOCK_SHIFT_VARIABLE, TEST_TODAY, TIMEZONE

PG_URL = os.environ.get("PORTAL_TEST_POSTGRES", "")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# How long a browser test waits for a state (a swap, a page, a focus) before failing: a loaded 2-core CI
# machine can take seconds for a step; a passing test never waits it out, so it can be generous.
BROWSER_TIMEOUT_MS = 30_000
REDIS_URL = os.environ.get("PORTAL_TEST_REDIS", "redis://127.0.0.1:6379/15")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
# The abuse suite's figures table (record_figure) at the end of every run.
pytest_plugins = ["tests.abuse_helpers"]


def pytest_report_header(config):
    pg = PG_URL or "no configurada (define PORTAL_TEST_POSTGRES para probar también en PostgreSQL)"
    return [f"bases de datos: {', '.join(BACKENDS)}; PostgreSQL: {pg}", f"Chromium: {CHROMIUM}",
            f"reloj del portal: {TEST_TODAY.isoformat()} (PORTAL_TEST_TODAY)"]


def pytest_configure(config):
    if IN_CI and not PG_URL:
        raise pytest.UsageError("CI=true pero PORTAL_TEST_POSTGRES no está definida: las pruebas deben correr en PostgreSQL.")


# --- the portal's clock ----------------------------------------------------------------------

@pytest.fixture(autouse=True)
def portal_clock(monkeypatch):
    """The portal's clock, run from noon of TEST_TODAY in each test; a server the test starts follows it.

    Test data is dated from `portal_clock.today(TIMEZONE)`, never from a calendar date.
    """
    clock.set_today(TEST_TODAY, TIMEZONE)
    monkeypatch.setenv(CLOCK_SHIFT_VARIABLE, repr(clock.shift_seconds()))
    yield clock
    clock.reset()


# Each test names its tier with a mark (pytest.ini; `make test-fast` leaves these out). A test that
# takes one of these fixtures without its mark would slip into the fast tier, so collection refuses it.
TIER_FIXTURES = {"browser": {"chromium", "browser_page"}, "text_browser": {"text_browser", "w3m"},
                 "multiprocess": {"gunicorn", "oidc_provider", "oidc_providers"}}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for mark, fixtures in TIER_FIXTURES.items():
            used = sorted(fixtures.intersection(item.fixturenames))
            if used and item.get_closest_marker(mark) is None:
                raise pytest.UsageError(f"{item.nodeid} usa {', '.join(used)} sin @pytest.mark.{mark}")


# --- databases -------------------------------------------------------------------------------

def _upgrade(url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "migraciones"})
    from flask_migrate import upgrade
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory):
    """A migrated, empty database of each backend, for the whole session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal.db'}"
        _upgrade(url)
        yield url
        return
    admin = create_engine(_pg(PG_URL), isolation_level="AUTOCOMMIT")
    name = f"portal_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001
        pytest.fail(f"PostgreSQL no disponible en {PG_URL}: {error}")
    url = _pg(PG_URL).rsplit("/", 1)[0] + f"/{name}"
    _upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _pg(url):
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", url)


def _empty_tables(app):
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in db.metadata.sorted_tables]
        with db.engine.begin() as conn:
            if db.engine.dialect.name == "postgresql":
                conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
            else:
                for table in reversed(tables):
                    conn.execute(text(f'DELETE FROM "{table}"'))
        db.engine.dispose()


@pytest.fixture
def backend(database_url):
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


def base_config(database_url, tmp_path, smtp_port):
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "clave-de-pruebas-" + uuid.uuid4().hex,
        "WTF_CSRF_ENABLED": False,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_port,
        "MAIL_DIR": str(tmp_path / "mail"),
        "MAIL_TIMEOUT": 5,
        # Cheaper scrypt so hundreds of test users do not cost minutes; production keeps the default.
        "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_KEY_PREFIX": "t" + uuid.uuid4().hex[:8],
        "STORE_URL": "https://tienda.example/aspel",
    }


class IsolatedClient(FlaskClient):
    """A test client whose every request has its own app context, as in production.

    pytest-flask pushes one context for the whole test and Flask reuses it for client requests,
    which would share `g` (Flask-Login's cached user: a signed-out client would look signed in)
    and the database session (a request would see the test's uncommitted state) across requests.
    Here each request runs in a fresh `contextvars.Context`, where the test's context does not
    exist, and the test's transaction is ended first so the request sees what the test wrote and
    the test then sees what the request wrote.
    """

    def __enter__(self):
        # pytest-flask opens the client with `with`, which would keep each request's context
        # alive after it; here a request's context always ends with the request.
        return self

    def __exit__(self, *exc_info):
        return None

    def open(self, *args, **kwargs):
        if has_app_context():
            db.session.commit()
        context = contextvars.Context()
        response = context.run(super().open, *args, **kwargs)
        if response.is_streamed:
            # The client reads a streamed body's first part inside open(), the rest later: all of
            # it runs in the request's own context, as a server's worker sends it.
            response.response = _InContext(context, response.response)
        return response


class _InContext:
    """An iterable whose every step (and close) runs in `context`."""

    def __init__(self, context, iterable):
        self.context, self.iterator = context, iter(iterable)
        self.close_iterable = getattr(iterable, "close", None)

    def __iter__(self):
        return self

    def __next__(self):
        return self.context.run(next, self.iterator)

    def close(self):
        if self.close_iterable is not None:
            self.context.run(self.close_iterable)
            self.close_iterable = None

    # A body the test never read is closed when the response goes, in the request's context too (a
    # server always closes it): ending there pops the request's contexts, not the test's.
    __del__ = close


class IsolatedCliRunner(FlaskCliRunner):
    """A `flask` command runs as its own process would: after the test's transaction ends, in a
    context of its own (its own app context and database session, outside any request)."""

    def invoke(self, *args, **kwargs):
        if has_app_context():
            db.session.commit()
        return contextvars.Context().run(super().invoke, *args, **kwargs)


@pytest.fixture
def app(request, database_url, tmp_path, smtp_server):
    """The portal on one backend; tables are emptied after each test."""
    config = base_config(database_url, tmp_path, smtp_server.port)
    marker = request.node.get_closest_marker("app_config")
    if marker:
        config.update(marker.kwargs)
    application = create_app(config)
    application.test_client_class = IsolatedClient
    application.test_cli_runner_class = IsolatedCliRunner
    yield application
    _empty_tables(application)


def require_redis():
    """The Redis that limits are shared through; missing in CI is a failure, locally a skip."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        message = f"Redis no disponible en {REDIS_URL} (define PORTAL_TEST_REDIS): {error}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return REDIS_URL


@pytest.fixture
def redis_url():
    """A reachable Redis URL for limits shared between processes (each test uses its own key prefix)."""
    return require_redis()


# --- people ----------------------------------------------------------------------------------

@pytest.fixture
def login(client):
    """login(user) signs the test client in (password factories.PASSWORD unless given)."""

    def _login(user, password=factories.PASSWORD, target=client):
        response = target.post("/cuenta/ingresar", data={"email": user.email, "password": password})
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        return response

    return _login


@pytest.fixture
def hx():
    """Headers of an htmx swap request."""
    return {"HX-Request": "true"}


@pytest.fixture
def world(app):
    """Two desks with one user each, to prove neither sees the other: .a and .b."""
    return factories.two_desks()


# --- mail ------------------------------------------------------------------------------------

class _Inbox:
    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        message = message_from_bytes(envelope.content, policy=default_policy)
        with self.lock:
            self.messages.append({"to": list(envelope.rcpt_tos), "message": message,
                                  "raw": envelope.content.decode("utf-8", "replace")})
        return "250 OK"


class SmtpServer:
    def __init__(self):
        from aiosmtpd.controller import Controller

        self.inbox = _Inbox()
        self.port = _free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def start(self):
        self.controller.start()

    def stop(self):
        self.controller.stop()

    @property
    def messages(self):
        return self.inbox.messages

    def clear(self):
        self.inbox.messages.clear()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server):
    """The real SMTP server the app delivers to, emptied for this test."""
    smtp_server.clear()
    return smtp_server


@pytest.fixture
def deliver(app, smtp):
    """deliver() runs the outbox once and returns the messages the SMTP server received."""

    def _deliver():
        from portal.mail.outbox import deliver_pending
        before = len(smtp.messages)
        with app.app_context():
            deliver_pending()
        return smtp.messages[before:]

    return _deliver


def body_of(message, subtype="plain"):
    """The text (or html) part of an e-mail."""
    part = message.get_body(preferencelist=(subtype,))
    return part.get_content() if part else ""


# --- a live server and a real browser --------------------------------------------------------

class LiveServer:
    def __init__(self, app):
        self.app = app  # pytest-flask pushes its request context from here
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def live_server(app):
    """The app served over HTTP on loopback, in a thread, with CSRF on as in production."""
    app.config["WTF_CSRF_ENABLED"] = True
    server = LiveServer(app)
    # This server is the portal's public address: the links it mails lead back to it.
    app.config["PORTAL_URL"] = server.url()
    server.thread.start()
    yield server
    server.server.shutdown()


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium through Playwright; missing in CI is a failure, locally a skip."""
    if not os.path.exists(CHROMIUM):
        if IN_CI:
            pytest.fail(f"Chromium no está instalado en {CHROMIUM}")
        pytest.skip(f"Chromium no está instalado en {CHROMIUM}")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=BROWSER_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
        ])
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium):
    """browser_page(js=True) opens a fresh browser context and page."""
    contexts = []

    def _open(js=True, **options):
        context = chromium.new_context(java_script_enabled=js, locale="es-MX", **options)
        context.set_default_timeout(BROWSER_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield _open
    for context in contexts:
        context.close()


def browser_sign_in(page, server, user, password=factories.PASSWORD):
    page.goto(server.url("/cuenta/ingresar"))
    page.get_by_label("Correo electrónico").fill(user.email)
    page.get_by_label("Contraseña").fill(password)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_url(re.compile(r".*/servicios/.*"))
