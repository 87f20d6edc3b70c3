"""The factory, configuration, migrations, health check and demo data."""
import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portal import ConfigError, create_app
from portal.extensions import db
from portal.models import Desk, PrepaidKey, Service, User
from tests import factories


def test_production_without_secret_key_stops_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"PORTAL_ENV": "production", "INSTANCE_PATH": str(tmp_path)})


@pytest.mark.parametrize("given, missing", [
    ({}, "PORTAL_URL y TRUSTED_HOSTS"),
    ({"TRUSTED_HOSTS": ["intranet.example.mx"]}, "PORTAL_URL"),
    ({"PORTAL_URL": "https://intranet.example.mx/portal"}, "TRUSTED_HOSTS"),
])
def test_production_without_its_public_address_stops_with_a_clear_message(tmp_path, monkeypatch, given, missing):
    for name in ("PORTAL_URL", "TRUSTED_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match=f"Falta {missing}: en producción"):
        create_app({"PORTAL_ENV": "production", "SECRET_KEY": "x" * 40, "INSTANCE_PATH": str(tmp_path), **given})


def test_development_generates_and_keeps_a_secret_key_under_instance(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = create_app({"INSTANCE_PATH": str(tmp_path)})
    second = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert len(first.config["SECRET_KEY"]) > 40
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_configuration_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAND_NAME", "Contpaq")
    monkeypatch.setenv("STORE_URL", "https://tienda.example/x")
    monkeypatch.setenv("MAIL_PORT", "2525")
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/db")
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["BRAND_NAME"] == "Contpaq"
    assert app.config["STORE_URL"] == "https://tienda.example/x"
    assert app.config["MAIL_PORT"] == 2525
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


def test_default_brand_is_aspel(tmp_path, monkeypatch):
    monkeypatch.delenv("BRAND_NAME", raising=False)
    assert create_app({"INSTANCE_PATH": str(tmp_path)}).config["BRAND_NAME"] == "Aspel"


def test_every_name_the_portal_gives_every_template_is_used_by_one(tmp_path):
    """What a context processor adds is computed for every page and mail: a name no template reads
    is work for nothing and a contract nobody keeps."""
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    env = app.jinja_env
    sources = "\n".join(env.loader.get_source(env, name)[0] for name in env.list_templates())
    given = set()
    with app.test_request_context("/"):
        for processor in app.template_context_processors[None]:
            if processor.__module__.startswith("portal"):
                given |= set(processor())
    assert given and "brand" in given
    assert [name for name in sorted(given) if not re.search(rf"\b{name}\b", sources)] == []


def test_models_and_migrations_agree(app):
    """`flask db upgrade` built the test database: it must equal what the models declare."""
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
    if db.engine.dialect.name == "sqlite":
        # SQLite cannot reflect expression indexes; the migration creates lower(email) explicitly.
        diff = [d for d in diff if not (d[0] == "add_index" and d[1].name == "uq_users_email_lower")]
    assert diff == []


def test_email_is_unique_whatever_its_case(app):
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    db.session.execute(text("INSERT INTO users (email, name, phone, session_token, created_at, updated_at) "
                            "VALUES ('Ana@Empresa.mx', 'Ana', '', 't1', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    with pytest.raises(IntegrityError):
        db.session.execute(text("INSERT INTO users (email, name, phone, session_token, created_at, updated_at) "
                                "VALUES ('ana@empresa.MX', 'Ana', '', 't2', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    db.session.rollback()


def test_statuses_outside_the_life_cycle_are_refused_by_the_database(app):
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        db.session.execute(text("INSERT INTO prepaid_keys (code, code_digest, quantity, unit, status, desk_id, "
                                "confirmed_on, created_at, updated_at) VALUES ('ABCDEFGHJKMNPQRS', 'd', 50, 'Timbres', "
                                "'robada', NULL, NULL, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    db.session.rollback()


def test_readyz_reports_the_database_and_its_schema(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "migrations": "ok"}


def test_demo_is_idempotent_and_prints_the_sign_ins(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["portal", "demo"])
    assert first.exit_code == 0, first.output
    assert "cliente@demo.mx" in first.output and "distribuidor@demo.mx" in first.output and "demo12345" in first.output
    counts = (db.session.query(Desk).count(), db.session.query(Service).count(), db.session.query(PrepaidKey).count())
    second = runner.invoke(args=["portal", "demo"])
    assert second.exit_code == 0
    assert "ya existían" in second.output
    assert (db.session.query(Desk).count(), db.session.query(Service).count(), db.session.query(PrepaidKey).count()) == counts
    assert counts[2] >= 3000
    statuses = {s for (s,) in db.session.query(PrepaidKey.status).distinct()}
    assert {"nueva", "disponible", "utilizada"} <= statuses
    categories = {c for (c,) in db.session.query(Service.category).distinct()}
    assert len(categories) == 7
    jorge = db.session.query(User).filter_by(email="distribuidor@demo.mx").one()
    assert len(jorge.memberships) == 2


def test_demo_refuses_production(app):
    app.config["PRODUCTION"] = True
    result = app.test_cli_runner().invoke(args=["portal", "demo"])
    assert result.exit_code != 0
    assert "producción" in result.output
    assert db.session.query(Desk).count() == 0


def _pooled_backend_pid():
    """The server process behind the pool's one connection (the pool is emptied first)."""
    from sqlalchemy import text

    db.session.remove()
    db.engine.dispose()
    pid = db.session.scalar(text("SELECT pg_backend_pid()"))
    db.session.remove()  # back to the pool, resting
    return pid


@pytest.mark.app_config(DATABASE_PING_IDLE_SECONDS=0.2)
def test_a_connection_the_database_dropped_while_it_rested_is_replaced(app, client):
    import time

    from sqlalchemy import create_engine, text

    if db.engine.dialect.name != "postgresql":
        pytest.skip("the pool's rest check is PostgreSQL's (SQLite opens a file)")
    pid = _pooled_backend_pid()
    admin = create_engine(db.engine.url)
    with admin.begin() as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()
    time.sleep(0.3)
    response = client.get("/readyz")
    assert response.status_code == 200 and response.get_json()["database"] == "ok"
    assert db.session.scalar(text("SELECT pg_backend_pid()")) != pid


@pytest.mark.app_config(DATABASE_PING_IDLE_SECONDS=60)
def test_a_connection_handed_back_moments_ago_is_used_without_asking_the_server_first(app, client, monkeypatch):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the pool's rest check is PostgreSQL's (SQLite opens a file)")
    pings = []
    real_ping = db.engine.dialect.do_ping
    monkeypatch.setattr(db.engine.dialect, "do_ping", lambda connection: pings.append(1) or real_ping(connection))
    for _ in range(5):
        assert client.get("/readyz").status_code == 200
    assert pings == []


def test_list_pages_read_outside_a_transaction_and_forms_write_inside_one(app, client, world, login, hx):
    from sqlalchemy import event

    from portal.models import GridPreference

    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's BEGIN costs no round trip: only PostgreSQL reads outside a transaction")
    factories.prepaid_key(world.a.desk, status="disponible")
    login(world.a.user)
    seen = []

    def note(conn, _cursor, statement, *_rest):
        seen.append((statement.split()[0], conn.connection.dbapi_connection.autocommit))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        for path in ("/claves-prepago?cols=clave&cols=estatus", "/servicios/suscripciones", "/perfil/actividad"):
            assert client.get(path, headers=hx).status_code == 200
        reads = list(seen)
        seen.clear()
        response = client.post("/perfil/datos", data={"details-name": "Ana Ruiz", "details-phone": "55 1234 5678"})
        saved = client.post("/claves-prepago", data={"cols": ["clave", "estatus"]}, headers=hx)
        writes = list(seen)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert response.status_code in (200, 303) and saved.status_code == 200
    assert reads and all(autocommit for _verb, autocommit in reads), reads
    assert writes and not any(autocommit for _verb, autocommit in writes), writes
    # What "Columnas" and the form wrote are kept.
    assert db.session.scalar(db.select(GridPreference.columns).where(
        GridPreference.user_id == world.a.user.id)) == "clave,estatus"
    db.session.refresh(world.a.user)
    assert world.a.user.name == "Ana Ruiz"


def test_a_search_or_text_filter_is_planned_for_its_words_while_plain_lists_reuse_their_plans(app, client, world, login, hx):
    from datetime import date

    from sqlalchemy import text

    if db.engine.dialect.name != "postgresql":
        pytest.skip("prepared statements and their plans are PostgreSQL's")
    ferreteria = factories.client(world.a.desk, razon_social="Ferretería Hidalgo")
    factories.prepaid_key(world.a.desk, status="utilizada", client=ferreteria, confirmed_on=date(2026, 6, 1))
    factories.prepaid_key(world.a.desk, status="utilizada", client=factories.client(world.a.desk, "Farmacia Sol"),
                          confirmed_on=date(2026, 6, 1))
    login(world.a.user)
    _pooled_backend_pid()  # one connection: every request below and the question after it share it
    period = "desde=2026-01-01&hasta=2026-12-31"
    for _ in range(12):  # psycopg prepares at the fifth run; PostgreSQL may go generic after five more
        found = client.get(f"/claves-prepago?{period}&q=ferreteria", headers=hx).get_data(as_text=True)
        assert "Ferretería Hidalgo" in found and "Farmacia Sol" not in found
        filtered = client.get(f"/claves-prepago?{period}&cliente=farma", headers=hx).get_data(as_text=True)
        assert "Farmacia Sol" in filtered and "Ferretería Hidalgo" not in filtered
        listed = client.get(f"/claves-prepago?{period}", headers=hx).get_data(as_text=True)
        assert "Ferretería Hidalgo" in listed and "Farmacia Sol" in listed
    prepared = db.session.scalars(text("SELECT statement FROM pg_prepared_statements")).all()
    assert any("FROM prepaid_keys" in s for s in prepared), prepared
    assert not any("LIKE" in s for s in prepared), prepared


def test_support_contact_and_privacy_notice_come_from_the_environment(tmp_path, monkeypatch):
    notice = tmp_path / "aviso.txt"
    notice.write_text("Aviso.", encoding="utf-8")
    monkeypatch.setenv("SUPPORT_EMAIL", "ayuda@marca.example")
    monkeypatch.setenv("SUPPORT_URL", "https://marca.example/soporte")
    monkeypatch.setenv("PRIVACY_NOTICE_FILE", str(notice))
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert (app.config["SUPPORT_EMAIL"], app.config["SUPPORT_URL"], app.config["PRIVACY_NOTICE_FILE"]) == (
        "ayuda@marca.example", "https://marca.example/soporte", str(notice))


def test_a_privacy_notice_file_that_cannot_be_read_stops_the_start(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("Año".encode("latin-1"))
    for path in (tmp_path / "no-existe.txt", tmp_path / "latin1.txt"):
        with pytest.raises(ConfigError, match="PRIVACY_NOTICE_FILE"):
            create_app({"INSTANCE_PATH": str(tmp_path), "PRIVACY_NOTICE_FILE": str(path)})
