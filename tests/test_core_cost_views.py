"""What each cut of a request's fixed cost keeps: limits still refuse where they apply and are not
asked where none does; the health check reports a database that does not answer, and asks a live
one without a transaction around its statement; the signed-in user is read as before."""
import re
import socket

import pytest
from sqlalchemy import event

from portal import clock, create_app
from portal.extensions import db
from portal.limits import EXTENSION
from tests import factories
from tests.conftest import base_config


class CountingStorage:
    """The limits' real storage, counting how often it is asked."""

    def __init__(self, storage):
        self.storage, self.calls = storage, 0

    def __getattr__(self, name):
        attribute = getattr(self.storage, name)
        if callable(attribute):
            def counted(*args, **kwargs):
                self.calls += 1
                return attribute(*args, **kwargs)
            return counted
        return attribute


@pytest.fixture
def counted_limits(app):
    strategy = app.extensions[EXTENSION]
    counting = CountingStorage(strategy.storage)
    strategy.storage = counting
    yield counting
    strategy.storage = counting.storage


def test_a_form_with_a_limit_still_refuses_with_429_and_pages_without_one_never_ask_the_store(
        client, world, login, counted_limits):
    for _ in range(5):
        wrong = client.post("/cuenta/ingresar", data={"email": world.a.user.email, "password": "no-es-esta-1"})
        assert wrong.status_code == 422
    refused = client.post("/cuenta/ingresar", data={"email": world.a.user.email, "password": factories.PASSWORD})
    assert refused.status_code == 429
    assert "Demasiados intentos" in refused.get_data(as_text=True)
    assert counted_limits.calls > 0

    counted_limits.calls = 0
    login(world.b.user)
    counted_limits.calls = 0
    for path in ("/healthz", "/servicios/suscripciones", "/claves-prepago", "/perfil", "/cuenta/ingresar"):
        assert client.get(path).status_code in (200, 302), path
    assert counted_limits.calls == 0


def test_readyz_asks_a_live_database_outside_any_transaction(app, client, backend):
    seen = []

    def note(conn, _cursor, statement, *_rest):
        seen.append((statement, getattr(conn.connection.dbapi_connection, "autocommit", None)))

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        response = client.get("/readyz")
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert response.status_code == 200 and response.get_json() == {"status": "ok", "database": "ok", "migrations": "ok"}
    assert [statement for statement, _ in seen] == ["SELECT 1", "SELECT version_num FROM alembic_version"]
    if backend == "postgresql":
        # psycopg sends BEGIN itself unless the connection is in autocommit: none was sent.
        assert seen[0][1] is True


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_readyz_reports_a_database_that_does_not_answer(backend, tmp_path, smtp_server):
    unreachable = (f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/test" if backend == "postgresql"
                   else f"sqlite:///{tmp_path}/no-existe/portal.db")  # a folder that is not there: cannot open
    application = create_app(base_config(unreachable, tmp_path, smtp_server.port))
    response = application.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "failed": ["database"], "database": "error"}
    assert "Traceback" not in response.get_data(as_text=True)


def test_the_signed_in_user_is_read_with_the_chosen_desk_in_one_statement(app, client, world, login):
    login(world.a.user)
    client.post("/escritorio", data={"desk_id": world.a.desk.id})
    statements = []

    def note(_conn, _cursor, statement, *_rest):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        page = client.get("/claves-prepago", headers={"HX-Request": "true"})
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert page.status_code == 200
    user_statements = [s for s in statements if "user_sessions" in s]
    assert len(user_statements) == 1 and "desks" in user_statements[0] and "grid_preferences" in user_statements[0]
    # The second account's session is not this one: it sees its own desk, not the first's.
    login(world.b.user)
    other = client.get("/servicios/suscripciones").get_data(as_text=True)
    assert world.b.desk.razon_social in other and world.a.desk.razon_social not in other


def test_the_signed_in_values_are_the_accounts_and_the_desks_as_stored_on_every_request(app, client, world, login):
    # Read as plain values (not mapped objects) on every request: what a page shows of the account
    # and the desk is what the database holds now.
    from portal.models import Desk, User

    login(world.a.user)
    page = client.get("/perfil").get_data(as_text=True)
    assert world.a.user.email in page and f"Póliza: {world.a.desk.razon_social[:20]}" in page
    # Changed elsewhere (the back office, another browser): the next page shows it.
    db.session.get(User, world.a.user.id).name = "Nombre Cambiado En Otro Lado"
    db.session.get(Desk, world.a.desk.id).razon_social = "Razón Cambiada SA"
    db.session.commit()
    page = client.get("/perfil").get_data(as_text=True)
    assert "Nombre Cambiado En Otro Lado" in page and "Póliza: Razón Cambiada SA" in page
    assert 'value="Nombre Cambiado En Otro Lado"' in page  # the form of Datos generales too


def _unsigned(body):
    # The CSRF token (in each form and in htmx's headers) is the session's token signed with the second
    # it was written: two requests either side of a second differ there and nowhere else. The
    # session's token itself is kept.
    return re.sub(rb'"(Ij[\w-]+)\.[\w-]+\.[\w-]+"', rb'"\1"', body)


def test_a_compressed_grid_page_and_fragment_are_the_very_bytes_of_the_plain_ones(app, client, world, login,
                                                                                   monkeypatch):
    # Pages are compressed at a faster level than the library's default: what arrives must not change.
    import gzip
    login(world.a.user)
    # A list says the minute it was drawn (for paper): both are drawn at one moment of the portal clock.
    moment = clock.now()
    monkeypatch.setattr(clock, "now", lambda: moment)
    for headers in ({}, {"HX-Request": "true"}):
        plain = client.get("/claves-prepago?sort=-fecha", headers=headers)
        packed = client.get("/claves-prepago?sort=-fecha", headers={**headers, "Accept-Encoding": "gzip"})
        assert plain.status_code == packed.status_code == 200
        assert "Content-Encoding" not in plain.headers and packed.headers["Content-Encoding"] == "gzip"
        assert _unsigned(gzip.decompress(packed.data)) == _unsigned(plain.data)
        assert len(packed.data) < len(plain.data) * 0.5
    # The second account's compressed page is its own desk's.
    login(world.b.user)
    other = gzip.decompress(client.get("/servicios/suscripciones", headers={"Accept-Encoding": "gzip"}).data).decode()
    assert world.b.desk.razon_social in other and world.a.desk.razon_social not in other
