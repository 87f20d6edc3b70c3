"""`make bench`: the portal under gunicorn, driven by wrk on loopback, as ratios to /healthz and to a hello-world.

    python -m bench.run            # every backend in BENCH_DBS (default: sqlite postgresql)

For each database: start gunicorn with deploy/gunicorn.conf.py (PORTAL_ENV=production), sign the
bench users in through the real form, then for each route of ROUTES: one probe (status, bytes raw
and gzipped, whether the feature is there at all), wrk at 1, 8 and 32 connections for
BENCH_SECONDS each, the workers' peak RSS (VmHWM, reset before each route), and the budgets.
Two neighbours run at the same level just before each route's run, and the route's ratios divide
by them (the machine's speed drifts within minutes): the portal's /healthz, and the floor,
bench/hello.py, a bare Flask app served by a second gunicorn with the same settings. Writes
bench/results/<backend>.json and .md, and bench/results/summary.md with both.

This module runs the steps; the parts are beside it: routes.py (what is requested, the budgets),
client.py and server.py (HTTP sessions, gunicorn), wrk.py (the load), context.py (a route made into
wrk's requests), pools.py and race.py (per-request values, the confirmation race), report.py
(metrics, verdicts, the Markdown and bench/README.md's latest-results block).
"""
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from contextlib import contextmanager
from datetime import datetime

from bench.alerts import bench_alerts
from bench.client import Browser
from bench.common import BACKENDS, DATA, PASSWORD, RESULTS, USERS, backend_of, database_url, selected_backends
from bench.context import Context, request_items, resolve_headers, session_for, write_script
from bench.explain import explain_backend
from bench.worst import worst_backend
from bench.fixed_cost import bench_fixed_cost
from bench.generate import Sizes
from bench.pools import Pools
from bench.race import probe_through_step_one, race
from bench.report import judge, markdown, ms, neighbours, write_latest
from bench.routes import HELLO, REFERENCE, ROUTES, placeholders, target
from bench.server import Server
from bench.wrk import wrk

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
REFERENCE_SECONDS = float(os.environ.get("BENCH_REFERENCE_SECONDS", "2"))  # /healthz, hello-world before each route
CONNECTIONS = [int(c) for c in os.environ.get("BENCH_CONNECTIONS", "1 8 32").split()]
PARTIAL = os.environ.get("BENCH_ROUTES", "")  # a comma list of words: only the routes whose names have one
GZIP_LEVEL = 9  # as docs/PERFORMANCE.md measured page weight


def bench_backend(backend):
    """Everything for one database; returns the results dict (also written to bench/results/)."""
    url = database_url(backend)
    meta = read_meta(DATA / f"{backend}.json", url, Sizes().keys)
    settle(url)
    results = {"backend": backend, "database": meta["url"], "started": datetime.now().isoformat(timespec="seconds"),
               "seconds_per_point": SECONDS, "connections": CONNECTIONS, "cores": os.cpu_count(),
               "load_average_at_start": os.getloadavg(), "data": meta["counts"], "routes": []}
    results["password_hash"] = _hash_cost(meta.get("password_hash_method"))
    print(f"== {backend}: {meta['counts']['prepaid_keys']:,} claves, {meta['counts']['services']:,} servicios",
          file=sys.stderr)
    with serving(url, meta, backend) as context:
        server, hello = context.server, context.hello
        results["workers"] = len(server.workers())
        # /healthz first: a line of its own (its ratio to the hello-world has a budget).
        for route in (REFERENCE, *chosen_routes()):
            results["routes"].append(measure_route(context, route))
        reference = results["routes"][0]
        results["reference"] = {"levels": neighbours(results["routes"], "reference_rps", CONNECTIONS),
                                "bytes": reference.get("bytes"), "gz": reference.get("gz")}
        results["hello"] = {"levels": neighbours(results["routes"], "hello_rps", CONNECTIONS),
                            "workers": len(hello.workers())}
        results["peak_rss_mb"] = max([r.get("rss_mb") or 0 for r in results["routes"]] + [server.peak_rss_mb()])
    # After the routes, outside the zip below: their budgets are judged by their own modules.
    if not PARTIAL or "alerts" in PARTIAL:
        results["routes"].append(bench_alerts(url, meta, backend))
    if not PARTIAL or "fixed" in PARTIAL:
        print(f"== {backend}: costo fijo de una solicitud (en proceso)", file=sys.stderr)
        results["routes"].append(bench_fixed_cost(backend))
    for route_result, route in zip(results["routes"], (REFERENCE, *chosen_routes())):
        judge(route_result, route, results)
    results["finished"] = datetime.now().isoformat(timespec="seconds")
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"partial-{backend}" if PARTIAL else backend  # a partial run never replaces the latest results
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    (RESULTS / f"{name}.md").write_text(markdown(results))
    return results


def read_meta(meta_path, url, keys, remedy="corre `make bench-data`"):
    """What bench/generate.py loaded (bench/data/<backend>.json), refused unless it is `url` with `keys` keys."""
    if not meta_path.exists():
        raise SystemExit(f"Faltan los datos de {meta_path.name}: {remedy} primero.")
    meta = json.loads(meta_path.read_text())
    if meta["url"] != url or meta["sizes"]["keys"] != keys:
        raise SystemExit(f"{meta_path} describe otra carga ({meta['url']}, {meta['sizes']['keys']:,} claves, "
                         f"se esperaban {keys:,}): {remedy}.")
    return meta


@contextmanager
def serving(url, meta, name):
    """The portal's gunicorn and the hello-world's on the loaded data, both bench users signed in through the
    real form, warmed up: the Context routes are measured with. `name` names the gunicorn logs in bench/data/."""
    with (tempfile.TemporaryDirectory() as scratch, Server(url, DATA / f"gunicorn-{name}.log") as server,
          hello_server(url, name) as hello):
        sessions = {who: Browser(server.port) for who in ("big", "second")}
        tokens = {who: sessions[who].sign_in(USERS[who], PASSWORD) for who in sessions}
        context = Context(server, sessions, tokens, Pools(url, meta), placeholders(meta), scratch, hello=hello)
        context.reference_script = write_script(context, REFERENCE, None, request_items(context, REFERENCE, None, [{}]))
        context.hello_script = write_script(context, HELLO, None, request_items(context, HELLO, None, [{}]))
        warm_up(context)
        yield context


def hello_server(url, backend):
    """The floor's gunicorn: bench/hello.py with the portal's settings (bench/hello_gunicorn.conf.py), its own port."""
    return Server(url, DATA / f"gunicorn-hello-{backend}.log", app="bench.hello:app",
                  config="bench/hello_gunicorn.conf.py", ready=HELLO.path)


def chosen_routes():
    """ROUTES, or with BENCH_ROUTES="keys: date, sign" those whose name contains one of the words."""
    if not PARTIAL:
        return ROUTES
    words = [w.strip().lower() for w in PARTIAL.split(",") if w.strip()]
    return [route for route in ROUTES if any(w in route.name.lower() for w in words)]


def settle(url):
    """PostgreSQL: VACUUM (ANALYZE) the big tables, so every run starts where autovacuum would keep them.

    Each run's confirmation race changes a thousand keys; their pages lose the visibility map's
    all-visible bit, and counts and deep pages then read the heap as well (5,000 heap fetches on
    page 2,000 after a few runs). Without this, a run's figures would depend on how many ran before.
    """
    if backend_of(url) != "postgresql":
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM (ANALYZE) prepaid_keys, services, clients"))
    engine.dispose()


def warm_up(ctx):
    """A few seconds of the hello-world, /healthz and the first page, so no worker is measured while still cold."""
    wrk(ctx.hello.port, ctx.hello_script, 8, 2, server=ctx.hello)
    for route in (REFERENCE, ROUTES[0]):
        session = session_for(ctx, route)
        script = write_script(ctx, route, session, request_items(ctx, route, session, [{}]))
        wrk(ctx.server.port, script, 8, 2, server=ctx.server)


def measure_route(ctx, route, connections=CONNECTIONS):
    """Probe, then wrk at each of `connections` (or the CSV download, or the confirmation race); figures in ms."""
    print(f"  {route.name}", file=sys.stderr)
    result = {"name": route.name, "method": route.method, "path": target(route, ctx.values), "kind": route.kind}
    probe = probe_route(ctx, route, session_for(ctx, route))
    result.update(probe)
    if not probe["available"]:
        print(f"    no disponible: {probe['note']}", file=sys.stderr)
        return result
    ctx.server.wait_idle()
    ctx.server.reset_peak_rss()
    if route.kind == "csv":
        result.update(download_csv(ctx, route, session_for(ctx, route)))
        print(f"    {result['csv']['rows']:,} filas en {result['csv']['seconds']} s: {result['rows_per_s']:,.0f} "
              f"filas/s", file=sys.stderr)
    elif route.kind == "race":
        result.update(race(ctx, route, SECONDS))
    else:
        result["levels"] = {}
        for conns in connections:
            hello_rps = wrk(ctx.hello.port, ctx.hello_script, conns, REFERENCE_SECONDS, server=ctx.hello)["rps"]
            reference = None
            if route is not REFERENCE:
                reference = wrk(ctx.server.port, ctx.reference_script, conns, REFERENCE_SECONDS,
                                server=ctx.server)["rps"]
            session = session_for(ctx, route)
            items = request_items(ctx, route, session, ctx.pools.values(route.pool))
            script = write_script(ctx, route, session, items)
            figures = wrk(ctx.server.port, script, conns, SECONDS, server=ctx.server)
            figures["done"] = sum(v for k, v in figures["statuses"].items() if k in route.ok)
            figures["reference_rps"] = figures["rps"] if route is REFERENCE else reference  # its own neighbour
            figures["hello_rps"] = hello_rps
            result["levels"][str(conns)] = figures
            print(f"    {conns:>3} conexiones: {figures['rps']:8.1f} req/s  p50 {ms(figures['p50']):>7} ms  "
                  f"p99 {ms(figures['p99']):>7} ms  {figures['statuses']}  ("
                  + (f"/healthz {reference:,.0f} req/s, " if reference is not None else "")
                  + f"hello-world {hello_rps:,.0f} req/s)", file=sys.stderr)
    result["rss_mb"] = ctx.server.peak_rss_mb()
    return result


def probe_route(ctx, route, session):
    """One request: is the feature there, and how heavy is its answer?"""
    values = probe_through_step_one(ctx, route, session) if route.kind == "race" else ctx.pools.values(route.pool)[:1]
    items = request_items(ctx, route, session, values)
    if not items:
        return {"available": False, "note": f"no values in the {route.pool} pool"}
    path, body = items[0]
    headers = resolve_headers(route, ctx, session)
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    stream = (lambda response: response.read(1 << 16)) if route.kind == "csv" else None
    status, response_headers, data, elapsed = session.request(route.method, path, headers=headers,
                                                              form=None if body is None else _decoded(body),
                                                              stream=stream)
    result = {"status": status, "probe_ms": round(elapsed * 1000, 1)}
    if status == 404 or status == 405:
        return result | {"available": False, "note": f"not available ({status})"}
    text = data.decode("utf-8", "replace")
    if status not in route.ok and status not in (200, 303):
        return result | {"available": False, "note": f"HTTP {status} at the probe", "sample": text[:300]}
    content_type = response_headers.get("Content-Type", "")
    if status == 200 and not content_type.startswith(route.content_type):
        return result | {"available": False, "note": f"not available (answers {content_type.split(';')[0]})"}
    if route.headers.get("HX-Request") and status == 200 and "<html" in text:
        return result | {"available": False, "note": "not available (a full page, not the grid fragment)"}
    if route.expect and not re.search(route.expect, text, re.M):
        return result | {"available": False, "note": "not available (the page does not have the feature yet)",
                         "sample": re.sub(r"\s+", " ", text)[:300]}
    if route.kind != "csv":
        result |= {"bytes": len(data), "gz": len(gzip.compress(data, GZIP_LEVEL))}
    if route.name.startswith("Suscripciones"):
        result["first_load_gz"] = first_load(session, text, result["gz"])
    return result | {"available": True, "note": ""}


def first_load(session, html, html_gz):
    """HTML + every stylesheet and script the page links, gzipped: what a first visit downloads."""
    total = html_gz
    for asset in re.findall(r'<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"|<script[^>]+src="([^"]+)"', html):
        path = asset[0] or asset[1]
        status, _h, data, _ = session.request("GET", path)
        if status == 200:
            total += len(gzip.compress(data, GZIP_LEVEL))
    return total


def _decoded(body):
    return dict(urllib.parse.parse_qsl(body, keep_blank_values=True))


def download_csv(ctx, route, session):
    """The whole export, streamed by one curl: rows per second and the first byte's delay."""
    url = f"http://127.0.0.1:{ctx.server.port}{target(route, ctx.values)}"
    command = ["curl", "-sS", "--no-buffer", "-H", f"Cookie: {session.cookie_header()}",
               "-w", "%{stderr}%{http_code} %{time_starttransfer} %{time_total} %{size_download}", url]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rows = 0
    while chunk := process.stdout.read(1 << 20):
        rows += chunk.count(b"\n")
    _, err = process.communicate()
    elapsed = time.perf_counter() - started
    status, first_byte, total, size = err.decode().split()[-4:]
    return {"csv": {"status": int(status), "rows": rows, "bytes": int(float(size)), "seconds": round(elapsed, 2),
                    "first_byte_ms": round(float(first_byte) * 1000, 1)},
            "rows_per_s": round(rows / elapsed, 0) if elapsed else None}


# OWASP's Password Storage Cheat Sheet (ASVS 5.0 V11.4): argon2id with 19 MiB and 2 iterations (or 46 MiB
# and 1, 12 MiB and 3, ...); else scrypt N=2^17,r=8,p=1 or the same work split as N=2^16,p=2 / N=2^15,p=3 /
# N=2^14,p=5 / N=2^13,p=10; else PBKDF2-HMAC-SHA256 at 600,000 rounds. The last is the portal's old default.
HASH_CANDIDATES = ("argon2id:19456:2:1", "argon2id:47104:1:1", "argon2id:12288:3:1", "scrypt:131072:8:1",
                   "scrypt:16384:8:5", "pbkdf2:sha256:600000", "scrypt:32768:8:1")


def _hash_cost(method):
    """Milliseconds for one password check with the configured method and with the usual candidates."""
    from portal.auth.passwords import hash_matches, make_hash

    def cost(name):
        hashed = make_hash("x", name)
        started = time.perf_counter()
        for _ in range(3):
            hash_matches(hashed, "x")
        return round((time.perf_counter() - started) / 3 * 1000, 1)

    if not method:
        return None
    return {"method": method, "ms": cost(method),
            "candidates": {name: cost(name) for name in HASH_CANDIDATES}}


def main():
    missing = [tool for tool in ("wrk", "curl") if not shutil.which(tool)]
    if missing:
        raise SystemExit(f"Faltan {', '.join(missing)} (apt-get install {' '.join(missing)})")
    RESULTS.mkdir(parents=True, exist_ok=True)
    for backend in selected_backends():
        bench_backend(backend)
        if PARTIAL:
            print((RESULTS / f"partial-{backend}.md").read_text())
            continue
        explain_backend(backend)
        worst_backend(backend)
    if PARTIAL:
        return
    # Every database's latest results, also those not run this time.
    latest = [json.loads((RESULTS / f"{b}.json").read_text()) for b in BACKENDS if (RESULTS / f"{b}.json").exists()]
    (RESULTS / "summary.md").write_text("\n".join(markdown(r) for r in latest))
    write_latest(latest)
    print((RESULTS / "summary.md").read_text())


if __name__ == "__main__":
    main()
