"""/healthz answers from the process alone; /readyz names what is not ready and recovers."""
import os

import pytest
from sqlalchemy import create_engine, event, text

from portal import create_app
from portal.extensions import db
from tests.conftest import PG_URL, _pg, _upgrade, base_config


def test_healthz_asks_nothing_outside_the_process(app, client, world, login):
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        login(world.a.user)
        statements.clear()
        response = client.get("/healthz")
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert statements == []  # not even the signed-in user's session is read
    assert "Set-Cookie" not in response.headers


def test_readyz_says_a_database_that_was_never_migrated_is_not_at_head(tmp_path, smtp_server):
    application = create_app(base_config(f"sqlite:///{tmp_path / 'vacia.db'}", tmp_path, smtp_server.port))
    response = application.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "failed": ["migrations"], "database": "ok", "migrations": "error"}


def test_readyz_names_redis_when_the_limits_live_there_and_it_is_down(tmp_path, smtp_server, database_url):
    config = base_config(database_url, tmp_path, smtp_server.port)
    config["RATELIMIT_STORAGE_URI"] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = create_app(config).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["failed"] == ["redis"]


def test_readyz_answers_503_while_the_database_is_gone_and_200_once_it_is_back(backend, tmp_path, smtp_server):
    """SQLite: the file made unreadable; PostgreSQL: the database dropped, then made again."""
    if backend == "sqlite":
        path, aside = tmp_path / "portal.db", tmp_path / "aparte.db"
        url = f"sqlite:///{path}"
        _upgrade(url)
    else:
        name = f"portal_readyz_{os.getpid()}"
        admin = create_engine(_pg(PG_URL), isolation_level="AUTOCOMMIT")
        url = _pg(PG_URL).rsplit("/", 1)[0] + f"/{name}"
        with admin.connect() as conn:
            for database in (name, name + "_copia"):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        _upgrade(url)
        with admin.connect() as conn:  # the same database, migrated, to bring back once it is dropped
            conn.execute(text(f'CREATE DATABASE "{name}_copia" TEMPLATE "{name}"'))

        def make():
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}_copia" RENAME TO "{name}"'))
    application = create_app(base_config(url, tmp_path, smtp_server.port))
    portal = application.test_client()
    assert portal.get("/readyz").status_code == 200
    try:
        if backend == "sqlite":
            with application.app_context():
                db.engine.dispose()  # the pool's open file would still read
            # Unreadable, even to root (whom a mode 000 does not stop): a folder where the file was.
            path.rename(aside)
            path.mkdir()
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        gone = portal.get("/readyz")
        assert gone.status_code == 503
        assert gone.get_json() == {"status": "error", "failed": ["database"], "database": "error"}
        assert portal.get("/healthz").status_code == 200  # alive all the same: no restart for an outage
    finally:
        if backend == "sqlite":
            path.rmdir()
            aside.rename(path)
        else:
            make()
    assert portal.get("/readyz").status_code == 200
    if backend == "postgresql":
        with application.app_context():
            db.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.app_config(LOG_REQUESTS=True)
def test_the_probes_are_not_logged_at_info(client, caplog):
    caplog.set_level("DEBUG", logger="portal")
    for path in ("/healthz", "/readyz"):
        assert client.get(path).status_code == 200
    lines = [r for r in caplog.records if r.name == "portal.request"]
    assert [(r.levelname, r.getMessage().split(" ")[1]) for r in lines] == [("DEBUG", "/healthz"), ("DEBUG", "/readyz")]
