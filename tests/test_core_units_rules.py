"""Units of work (portal.units): the CLI writes and the pages read in the mode they name, on each
database, without a request context; the data layer never reads the request."""
import ast
import contextvars
from pathlib import Path

import pytest
from flask import has_request_context
from sqlalchemy import event, select

from portal.extensions import db
from portal.models import Desk, User
from portal.units import UnitAlreadyBegun, Work, unit_of_work
from tests import factories

ROOT = Path(__file__).resolve().parents[1] / "portal"
# Where data is kept and read: none of it may choose what to do from the request it serves.
DATA_LAYER = [*sorted((ROOT / "models").glob("*.py")), ROOT / "units.py", ROOT / "postgres.py",
              ROOT / "sqlite.py", ROOT / "extensions.py", ROOT / "column_choices.py", ROOT / "clock.py",
              ROOT / "audit.py", ROOT / "limits.py", *sorted((ROOT / "backoffice").glob("*.py"))]


def outside_any_request(function, *args, **kwargs):
    """Run `function` as the CLI runs: pytest-flask keeps a request context open for the whole test,
    which a fresh context does not have."""
    return contextvars.Context().run(function, *args, **kwargs)


@pytest.fixture
def statements(app):
    """The SQL the app's engine sends, each with whether a request context was open."""
    sent = []

    def _record(_conn, _cursor, statement, _params, _context, _many):
        sent.append((statement.split()[0:2], has_request_context()))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", _record)
    yield sent
    with app.app_context():
        event.remove(db.engine, "before_cursor_execute", _record)


@pytest.fixture
def begins(app, backend):
    """The BEGIN statements SQLite's connections issue (the "begin" listener sends them itself)."""
    sent = []

    def _record(conn, cursor, statement, *_args):
        if statement.startswith("BEGIN"):
            sent.append(statement)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", _record)
    yield sent
    with app.app_context():
        event.remove(db.engine, "before_cursor_execute", _record)


def test_no_data_layer_module_reads_the_request():
    for path in DATA_LAYER:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("flask"):
                names = {alias.name for alias in node.names}
                assert not names & {"request", "has_request_context", "g"}, (path.name, names)
            if isinstance(node, ast.Attribute) and node.attr == "environ":
                pytest.fail(f"{path.name} reads an environ")


def test_the_cli_writes_in_a_writing_unit_without_a_request_context(app, backend, begins, statements, tmp_path):
    csv = tmp_path / "desks.csv"
    csv.write_text("rfc,razon_social,kind,user_email,user_name,user_phone,user_role\n"
                   "CBA950612K21,Comercializadora del Bajío,cliente,laura@bajio.com.mx,Laura Méndez,,owner\n",
                   encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["portal", "import", str(csv)])  # as its own process
    assert result.exit_code == 0, result.output
    assert statements and not any(in_request for _words, in_request in statements)
    if backend == "sqlite":
        assert begins and set(begins) == {"BEGIN IMMEDIATE"}  # the write lock at once: writers queue
    with app.app_context():
        assert db.session.scalar(select(Desk.razon_social).where(Desk.rfc == "CBA950612K21")) == \
            "Comercializadora del Bajío"


@pytest.mark.parametrize("work", list(Work))
def test_each_unit_runs_in_its_mode_on_each_database_without_a_request(app, backend, begins, work):
    outside_any_request(_run_a_unit, app, backend, begins, work)


def _run_a_unit(app, backend, begins, work):
    with app.app_context():
        desk = factories.desk()
        db.session.commit()
        begins.clear()
        with unit_of_work(db.session, work):
            assert db.session.scalar(select(Desk.rfc).where(Desk.id == desk.id)) == desk.rfc
            driver = db.session.connection().connection.dbapi_connection
            if backend == "postgresql":
                # Reads run each statement on its own: no BEGIN, no ROLLBACK; the others are one transaction.
                assert driver.autocommit is (work is Work.READS)
            else:
                assert begins == ["BEGIN IMMEDIATE" if work is Work.WRITES else "BEGIN"]
            db.session.rollback()
        assert not has_request_context()


def test_a_unit_named_after_its_first_statement_is_refused(app):
    with app.app_context():
        db.session.scalar(select(User.id).limit(1))  # a writing transaction (outside any unit) has begun
        with pytest.raises(UnitAlreadyBegun):
            with unit_of_work(db.session, Work.READS):
                pass
        db.session.rollback()
        with unit_of_work(db.session, Work.READS):  # named first: it holds
            db.session.scalar(select(User.id).limit(1))


def test_an_error_inside_a_unit_leaves_nothing_half_done(app):
    with app.app_context():
        with pytest.raises(RuntimeError):
            with unit_of_work(db.session, Work.WRITES):
                db.session.add(Desk(razon_social="A medias", rfc="MED950612K21", kind="cliente"))
                db.session.flush()
                raise RuntimeError("falla a la mitad")
        assert db.session.scalar(select(Desk.id).where(Desk.razon_social == "A medias")) is None


def test_a_reading_page_reads_the_signed_in_user_in_its_unit_whatever_the_decorators_order(
        app, backend, client, login, world):
    """@reads_only is read before the view runs, so the user is loaded in the page's unit too."""
    from portal.request_units import work_for

    login(world.a.user)
    view = app.view_functions["services.category"]
    assert work_for(view, "GET") is Work.READS and work_for(view, "POST") is Work.WRITES
    assert work_for(app.view_functions["auth.sign_in"], "GET") is Work.TRANSACTION
    assert client.get("/servicios/suscripciones").status_code == 200
