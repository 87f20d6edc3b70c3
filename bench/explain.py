"""EXPLAIN of every query the grid routes run, captured while the app renders them.

    python -m bench.explain [sqlite|postgresql ...]

The app itself (create_app + test client, signed in as the big desk's owner) requests each route
of bench.routes.ROUTES marked grid=True twice; the SELECTs of the second request that touch the big
tables are recorded as the driver received them (SQL and parameters) and explained on the same
database: EXPLAIN QUERY PLAN on SQLite, EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL. Whatever code
builds the queries (portal/grid/query.py or a view), this shows what reaches the database.
Writes bench/results/explain-<backend>.md.
"""
import json
import re
import sys
import time

from sqlalchemy import event

from bench.common import DATA, DATA_KEY, PASSWORD, RESULTS, USERS, backend_of, database_url, selected_backends
from bench.routes import ROUTES, placeholders, target
from portal.grid.reading import forget_counts
from portal.postgres import PLAN_PER_EXECUTION

BIG_TABLES = re.compile(r"\b(prepaid_keys|services|clients)\b")


def capture_queries(app, routes, values, email=USERS["big"], password=PASSWORD):
    """[(route, path, status, ms, [(sql, params)], statements)] for each route, signed in as `email`."""
    from portal.extensions import db

    client = app.test_client()
    response = client.post("/cuenta/ingresar", data={"email": email, "password": password})
    if response.status_code not in (302, 303):
        raise RuntimeError(f"no se pudo iniciar sesión como {email}: HTTP {response.status_code}")
    seen = []

    def record(_conn, _cursor, statement, parameters, context, _executemany):
        # Whether the app plans it with its values each time (portal/postgres.py) or lets it be prepared.
        seen.append((statement, parameters, bool(context.execution_options.get(PLAN_PER_EXECUTION))))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        found = []
        for route in routes:
            path = target(route, values)
            headers = {k: v for k, v in route.headers.items() if "{" not in v}
            client.get(path, headers=headers)  # warm: templates, caches, the database's pages
            # A count past its bound is remembered (portal/grid/reading.py): forget it, so its plan is shown too.
            forget_counts()
            seen.clear()
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            queries = [(sql, params, per_execution) for sql, params, per_execution in seen
                       if sql.lstrip().upper().startswith(("SELECT", "WITH")) and BIG_TABLES.search(sql)]
            found.append((route, path, response.status_code, round(elapsed, 1), queries, len(seen)))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return found


def explain(engine, sql, params, generic=False):
    """The plan of one statement, as text. generic=True (PostgreSQL): the generic plan, made
    without the values, that a prepared statement may keep (psycopg prepares a statement at its
    fifth run on a connection, and PostgreSQL may go generic five runs later)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql" and generic:
            names = []
            numbered = re.sub(r"%\((\w+)\)s", lambda m: names.append(m.group(1)) or f"${len(names)}", sql)
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            cursor.execute("PREPARE bench_explained AS " + numbered)
            values = ", ".join(_sql_literal(cursor, params[name]) for name in names)
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_explained({values})")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("DEALLOCATE bench_explained")
            cursor.execute("RESET plan_cache_mode")
            return plan
        if engine.dialect.name == "postgresql":
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            return "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        rows = cursor.fetchall()
        depth = {0: -1}
        lines = []
        for node, parent, _unused, detail in rows:
            depth[node] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node] + detail)
        return "\n".join(lines)
    finally:
        raw.rollback()
        raw.close()


def explain_backend(backend):
    """Write bench/results/explain-<backend>.md for the grid routes of bench.routes.ROUTES."""
    from portal import create_app
    from portal.extensions import db

    url = database_url(backend)
    meta = json.loads((DATA / f"{backend}.json").read_text())
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-explain", "DATA_KEY": DATA_KEY, "WTF_CSRF_ENABLED": False})
    routes = [route for route in ROUTES if route.grid]
    captured = capture_queries(app, routes, placeholders(meta))
    kind = "EXPLAIN (ANALYZE, BUFFERS)" if backend_of(url) == "postgresql" else "EXPLAIN QUERY PLAN"
    lines = [f"# {kind} — {backend}", "",
             "Every SELECT on prepaid_keys, services or clients that each grid route ran (second request, "
             "signed in as the big desk's owner, the grid's remembered counts forgotten first so the COUNT "
             "runs too), explained on the bench database. Times are in-process (Flask test client, one "
             "request). On PostgreSQL a statement the app lets psycopg prepare is shown with its generic "
             "plan (the one a pooled connection keeps after a few runs); a search's statements, sent "
             "unprepared, with the plan for their values.", ""]
    with app.app_context():
        for route, path, status, ms, queries, statements in captured:
            lines += [f"## {route.name}", "", f"`GET {path}` → HTTP {status}, {ms} ms in-process, "
                      f"{statements} statements in all, {len(queries)} of them on the big tables.", ""]
            for n, (sql, params, per_execution) in enumerate(queries, 1):
                on_postgresql = backend_of(url) == "postgresql"
                generic = on_postgresql and not per_execution
                try:
                    plan = explain(db.engine, sql, params, generic=generic)
                except Exception as error:  # noqa: BLE001 - a plan that cannot be had is reported, not fatal
                    plan = f"(EXPLAIN falló: {error})"
                kind = ("generic plan, as a prepared statement keeps it (plan_cache_mode = force_generic_plan)"
                        if generic else "planned with these values (the app sends it unprepared)"
                        if on_postgresql else "")
                lines += [f"### query {n}", "", "```sql", sql.strip(), "```",
                          f"parameters: `{_short(params)}`" + (f" — {kind}" if kind else ""), "",
                          "```", plan, "```", ""]
        db.engine.dispose()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"explain-{backend}.md").write_text("\n".join(lines))
    print(f"  EXPLAIN: bench/results/explain-{backend}.md", file=sys.stderr)


def _sql_literal(cursor, value):
    """A value written into EXECUTE's arguments, quoted by the server (NULL for None)."""
    if value is None:
        return "NULL"
    cursor.execute("SELECT quote_literal(%s::text)", (str(value),))
    return cursor.fetchone()[0]


def _short(params):
    text = repr(params)
    return text if len(text) < 400 else text[:400] + "…"


if __name__ == "__main__":
    for name in sys.argv[1:] or selected_backends():
        explain_backend(name)
