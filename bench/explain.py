"""EXPLAIN of every query the grid routes run, captured while the app renders them.

    python -m bench.explain [sqlite|postgresql ...]

The app itself (create_app + test client, signed in as the big desk's owner) requests each route
of bench.run.ROUTES marked grid=True twice; the SELECTs of the second request that touch the big
tables are recorded as the driver received them (SQL and parameters) and explained on the same
database: EXPLAIN QUERY PLAN on SQLite, EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL. Whatever code
builds the queries (portal/grid.py or a view), this shows what reaches the database.
Writes bench/results/explain-<backend>.md.
"""
import json
import re
import sys
import time

from sqlalchemy import event

from bench.common import DATA, PASSWORD, RESULTS, USERS, backend_of, database_url, selected_backends

BIG_TABLES = re.compile(r"\b(prepaid_keys|services|clients)\b")


def capture_queries(app, routes, values, email=USERS["big"], password=PASSWORD):
    """[(route, path, status, ms, [(sql, params)], statements)] for each route, signed in as `email`."""
    from bench.run import target
    from portal.extensions import db

    client = app.test_client()
    response = client.post("/cuenta/ingresar", data={"email": email, "password": password})
    if response.status_code not in (302, 303):
        raise RuntimeError(f"no se pudo iniciar sesión como {email}: HTTP {response.status_code}")
    seen = []

    def record(_conn, _cursor, statement, parameters, _context, _executemany):
        seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        found = []
        for route in routes:
            path = target(route, values)
            headers = {k: v for k, v in route.headers.items() if "{" not in v}
            client.get(path, headers=headers)  # warm: templates, caches, the database's pages
            # A count past its bound is remembered (portal/grid.py): forget it, so its plan is shown too.
            app.extensions.pop("grid_past_bound", None)
            seen.clear()
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            queries = [(sql, params) for sql, params in seen
                       if sql.lstrip().upper().startswith(("SELECT", "WITH")) and BIG_TABLES.search(sql)]
            found.append((route, path, response.status_code, round(elapsed, 1), queries, len(seen)))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return found


def explain(engine, sql, params):
    """The plan of one statement, as text."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
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
    """Write bench/results/explain-<backend>.md for the grid routes of bench.run.ROUTES."""
    from bench.run import ROUTES, placeholders
    from portal import create_app
    from portal.extensions import db

    url = database_url(backend)
    meta = json.loads((DATA / f"{backend}.json").read_text())
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-explain", "WTF_CSRF_ENABLED": False})
    routes = [route for route in ROUTES if route.grid]
    captured = capture_queries(app, routes, placeholders(meta))
    kind = "EXPLAIN (ANALYZE, BUFFERS)" if backend_of(url) == "postgresql" else "EXPLAIN QUERY PLAN"
    lines = [f"# {kind} — {backend}", "",
             "Every SELECT on prepaid_keys, services or clients that each grid route ran (second request, "
             "signed in as the big desk's owner, the grid's remembered counts forgotten first so the COUNT "
             "runs too), explained on the bench database. Times are in-process (Flask test client, one "
             "request).", ""]
    with app.app_context():
        for route, path, status, ms, queries, statements in captured:
            lines += [f"## {route.name}", "", f"`GET {path}` → HTTP {status}, {ms} ms in-process, "
                      f"{statements} statements in all, {len(queries)} of them on the big tables.", ""]
            for n, (sql, params) in enumerate(queries, 1):
                try:
                    plan = explain(db.engine, sql, params)
                except Exception as error:  # noqa: BLE001 - a plan that cannot be had is reported, not fatal
                    plan = f"(EXPLAIN falló: {error})"
                lines += [f"### query {n}", "", "```sql", sql.strip(), "```",
                          f"parameters: `{_short(params)}`", "", "```", plan, "```", ""]
        db.engine.dispose()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"explain-{backend}.md").write_text("\n".join(lines))
    print(f"  EXPLAIN: bench/results/explain-{backend}.md", file=sys.stderr)


def _short(params):
    text = repr(params)
    return text if len(text) < 400 else text[:400] + "…"


if __name__ == "__main__":
    for name in sys.argv[1:] or selected_backends():
        explain_backend(name)
