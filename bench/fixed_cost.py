"""`make bench`'s fixed-cost step: what a signed-in grid request costs outside the view's own work.

    python -m bench.fixed_cost --db postgresql [--requests 400]     # prints JSON

The portal is built here as the bench serves it (bench/wsgi.py, production settings, the bench
data), the bench user signs in through the real form (Flask's test client), and each request of
ROUTES is then made through the WSGI call itself, as gunicorn makes it, with that session's cookie
and no client in between. The view function under its decorators is timed on every call: what it
does (the grid's queries and the rendering of its page or fragment) is the route's own work;
everything else — routing, the session cookie, loading the user and the desk, the request hooks,
headers, compression, the teardown — is the fixed cost every page pays. The bare hello-world of
bench/hello.py is called the same way, as the floor of that cost.

Run in a process of its own (run.py starts it): the app reads its settings from the environment
at import.
"""
import argparse
import functools
import gc
import io
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import DATA, DATA_KEY, PASSWORD, ROOT, USERS, database_url
from bench.routes import FIXED_COST, FIXED_COST_BUDGET, REFERENCE, ROUTES, placeholders, target

WARM_UP = 30


def fixed_cost(backend, requests, meta_path=None):
    """{route name: {total_us, view_us, fixed_us}}, medians over `requests` calls, plus the hello-world.
    `meta_path`: the data's description (bench/data/<backend>.json unless another load is measured)."""
    url = database_url(backend)
    os.environ.update(PORTAL_ENV="production", SECRET_KEY=secrets.token_urlsafe(48), DATA_KEY=DATA_KEY, DATABASE_URL=url,
                      PORTAL_URL="http://127.0.0.1:8000", TRUSTED_HOSTS="127.0.0.1",
                      RATELIMIT_STORAGE_URI="memory://", MAIL_DIR=str(DATA / "mail"))
    from bench.hello import app as hello
    from bench.wsgi import app

    values = placeholders(json.loads((meta_path or DATA / f"{backend}.json").read_text()))
    cookie = _signed_in_cookie(app)
    # As deploy/gunicorn.conf.py leaves a worker: what the app holds out of the collector's walks.
    gc.collect()
    gc.freeze()
    figures = {"hello-world (floor)": _measure(hello, None, _environ("/", {}), requests)}
    timers = {}  # one per endpoint: two routes may share a view
    for route in (route for route in (REFERENCE, *ROUTES) if route.name in FIXED_COST):
        environ = _environ(target(route, values), {"Cookie": cookie, **route.headers})
        endpoint = app.url_map.bind_to_environ(environ).match(environ["PATH_INFO"], method="GET")[0]
        if endpoint not in timers:
            timers[endpoint] = _timed_view(app, endpoint)
        figures[route.name] = _measure(app, timers[endpoint], environ, requests)
    return figures


def _signed_in_cookie(app):
    """The bench user's session cookie after a real sign-in and one page (which settles the session)."""
    client = app.test_client()
    base = "http://127.0.0.1:8000"
    form = client.get("/cuenta/ingresar", base_url=base).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    signed_in = client.post("/cuenta/ingresar", base_url=base, headers={"User-Agent": "portal-bench"},
                            data={"csrf_token": token, "email": USERS["big"], "password": PASSWORD, "next": ""})
    if signed_in.status_code != 303:
        raise SystemExit(f"no se pudo iniciar sesión: HTTP {signed_in.status_code}")
    client.get("/servicios/suscripciones", base_url=base, headers={"User-Agent": "portal-bench"})
    return "; ".join(f"{cookie.key}={cookie.value}" for cookie in client._cookies.values())


def _environ(path, headers):
    """A WSGI environ as gunicorn builds it for a GET of `path` (body empty)."""
    path, _, query = path.partition("?")
    environ = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
               "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000", "wsgi.version": (1, 0),
               "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.multithread": False,
               "wsgi.multiprocess": True, "wsgi.run_once": False, "HTTP_HOST": "127.0.0.1:8000",
               "HTTP_USER_AGENT": "portal-bench", "HTTP_ACCEPT_ENCODING": "gzip, deflate"}
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


class _Timed:
    """The view function, timed: `seconds` is its last call's (it keeps the view's name and module,
    which Flask-WTF's exemption check reads)."""

    def __init__(self, view):
        functools.update_wrapper(self, view)
        self.view, self.seconds = view, 0.0

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.view(*args, **kwargs)
        finally:
            self.seconds = time.perf_counter() - started


def _timed_view(app, endpoint):
    """The endpoint's own function under its decorators, replaced where a decorator holds it by a
    timed one. Decorators made with functools.wraps name it (`__wrapped__`, the last of the chain)
    and keep it in a closure cell, possibly of a function they wrap in turn: those are searched."""
    outer = view = app.view_functions[endpoint]
    while hasattr(view, "__wrapped__"):
        view = view.__wrapped__
    timed = _Timed(view)
    if view is outer:
        app.view_functions[endpoint] = timed
        return timed
    seen, functions = set(), [outer]
    while functions:
        function = functions.pop()
        if id(function) in seen:
            continue
        seen.add(id(function))
        for cell in getattr(function, "__closure__", None) or ():
            if cell.cell_contents is view:
                cell.cell_contents = timed
                return timed
            if callable(cell.cell_contents):
                functions.append(cell.cell_contents)
    raise SystemExit(f"{endpoint}: ningún decorador guarda la vista en un cierre; no se puede medir")


def _call(app, environ):
    environ = dict(environ, **{"wsgi.input": io.BytesIO()})
    statuses = []
    body = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    for _chunk in body:
        pass
    if hasattr(body, "close"):
        body.close()
    if not statuses[0].startswith("200"):
        raise SystemExit(f"{environ['PATH_INFO']}: HTTP {statuses[0]}")


def _measure(app, timed, environ, requests):
    for _ in range(WARM_UP):
        _call(app, environ)
    totals, views = [], []
    for _ in range(requests):
        started = time.perf_counter()
        _call(app, environ)
        totals.append(time.perf_counter() - started)
        views.append(timed.seconds if timed else 0.0)
    fixed = [total - view for total, view in zip(totals, views)]
    micro = lambda values: round(statistics.median(values) * 1e6)  # noqa: E731
    return {"total_us": micro(totals), "view_us": micro(views), "fixed_us": micro(fixed), "requests": requests}


def bench_fixed_cost(backend, requests=400):
    """run.py's route-like result: this module run in a process of its own, and the budget judged."""
    done = subprocess.run([sys.executable, "-m", "bench.fixed_cost", "--db", backend, "--requests", str(requests)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return {"name": FIXED_COST_BUDGET.label, "available": False, "note": done.stderr.strip()[-300:]}
    figures = json.loads(done.stdout)
    grid = figures[FIXED_COST[0]]
    measured, passed = FIXED_COST_BUDGET.judge(grid)
    note = "; ".join(f"{name}: {f['fixed_us']:,} µs of {f['total_us']:,} µs" for name, f in figures.items())
    return {"name": f"fixed cost in process ({FIXED_COST[0]})", "available": True,
            "note": f"outside the view, median of {requests} calls — {note}", "fixed_cost": figures,
            "budgets": [{"budget": FIXED_COST_BUDGET.label, "metric": FIXED_COST_BUDGET.metric,
                         "op": FIXED_COST_BUDGET.op, "limit": FIXED_COST_BUDGET.limit,
                         "unit": FIXED_COST_BUDGET.unit, "measured": measured, "pass": passed}]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="postgresql")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--meta", type=Path, help="the data's description (default bench/data/<db>.json)")
    args = parser.parse_args(argv)
    print(json.dumps(fixed_cost(args.db, args.requests, args.meta), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
