"""`make bench`: the portal under gunicorn, driven by wrk on loopback, as ratios to its own /healthz.

    python -m bench.run            # every backend in BENCH_DBS (default: sqlite postgresql)

For each database: start gunicorn with deploy/gunicorn.conf.py (PORTAL_ENV=production), sign the
bench users in through the real form, then for each route of ROUTES: one probe (status, bytes raw
and gzipped, whether the feature is there at all), wrk at 1, 8 and 32 connections for
BENCH_SECONDS each, the workers' peak RSS (VmHWM, reset before each route), and the budgets.
/healthz, the hello-world reference, runs at the same level just before each route's run, and the
route's ratio divides by that neighbour (the machine's speed drifts within minutes). Writes
bench/results/<backend>.json and .md, and bench/results/summary.md with both.
"""
import gzip
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from bench.alerts import bench_alerts
from bench.common import (BACKENDS, DATA, PASSWORD, POOL_BATCH, RESULTS, ROOT, USERS, backend_of, database_url,
                          selected_backends)
from bench.generate import Sizes

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
REFERENCE_SECONDS = float(os.environ.get("BENCH_REFERENCE_SECONDS", "2"))  # /healthz before each route
CONNECTIONS = [int(c) for c in os.environ.get("BENCH_CONNECTIONS", "1 8 32").split()]
PARTIAL = os.environ.get("BENCH_ROUTES", "")  # a comma list of words: only the routes whose names have one
RACE_KEYS = 4000      # offered to both users in the confirmation race (used up: make bench-data renews them)
PROBE_KEYS = 10       # confirmed by the race's probe through the real step 1 (never raced)
VALIDATE_KEYS = 2000  # validated again and again (validation changes nothing)
GZIP_LEVEL = 9  # as docs/PERFORMANCE.md measured page weight
KEY_CODE = r"(?:[0-9A-Z•]{4}-){3}[0-9A-Z]{4}|[0-9A-HJKMNP-TV-Z]{16}"  # a key's code on a page, masked or not
CLIENT_NAME = r"(?:Abarrotes|Ferretería|Farmacia|Refaccionaria|Hotel)[^<]* \d+ S\.A\. de C\.V\."  # bench clients
RANGE_ALL = {"desde": "{first_day}", "hasta": "{today}"}
RANGE_YEAR = {"desde": "{year_ago}", "hasta": "{today}"}
HX = {"HX-Request": "true"}
USER_AGENT = "portal-bench"  # the same for the sign-in and for wrk: session protection sees one client


@dataclass
class Budget:
    label: str
    metric: str   # a key of Measured.metrics(): "p50@1", "ratio@8", "p99@32", "gz", "first_load_gz", ...
    op: str       # "<=" or ">="
    limit: float
    unit: str = ""

    def judge(self, metrics):
        value = metrics.get(self.metric)
        if value is None:
            return None, None
        return value, (value <= self.limit if self.op == "<=" else value >= self.limit)


GRID_P99 = Budget("any grid page p99 at 32 connections", "p99@32", "<=", 250, "ms")
FRAGMENT_GZ = Budget("grid fragment gzipped", "gz", "<=", 8 * 1024, "B")


@dataclass
class Route:
    """One line of the benchmark. Paths and parameters follow PRODUCT.md §2-3; the features'
    branches may rename a parameter or a form field: change it here, nowhere else."""

    name: str
    path: str
    query: dict = field(default_factory=dict)
    method: str = "GET"
    headers: dict = field(default_factory=dict)
    form: dict | None = None      # POST fields; "{code}", "{token}", "{serial}", "{csrf}", "{email}", "{password}" filled in
    pool: str | None = None       # "serials", "keys" or "race_keys": one value per request (see Pools)
    user: str | None = "big"      # who is signed in (None: nobody)
    expect: str | None = None     # a regex the response must contain, else the feature is "not available"
    ok: tuple = (200,)            # statuses that mean the route did its work
    content_type: str = "text/html"  # what the answer must be, else the feature is "not available"
    kind: str = "wrk"             # "wrk", "csv" (one streamed download) or "race" (both users at once)
    grid: bool = False            # EXPLAIN its queries (bench/explain.py)
    budgets: list = field(default_factory=list)


ROUTES = [
    Route("Suscripciones (page)", "/servicios/suscripciones", expect=r"No\. Serie", grid=True,
          budgets=[Budget("first load HTML + CSS + JS gzipped", "first_load_gz", "<=", 40 * 1024, "B"), GRID_P99]),
    Route("Keys: date range + sort", "/claves-prepago", {**RANGE_YEAR, "sort": "-fecha"}, headers=HX,
          expect=KEY_CODE, grid=True,
          budgets=[Budget("p50 at 1 connection", "p50@1", "<=", 20, "ms"),
                   Budget("req/s at 8 connections vs /healthz", "ratio@8", ">=", 0.20, "×"), GRID_P99, FRAGMENT_GZ]),
    Route("Keys: + search q", "/claves-prepago", {**RANGE_YEAR, "sort": "-fecha", "q": "ferreteria"}, headers=HX,
          expect=KEY_CODE, grid=True, budgets=[GRID_P99, FRAGMENT_GZ]),
    Route("Keys: group by status", "/claves-prepago", {**RANGE_ALL, "group": "estatus"}, headers=HX,
          expect=r"Estatus: \w+ \(", grid=True,
          budgets=[Budget("grouping p50 at 1 connection", "p50@1", "<=", 150, "ms"), GRID_P99, FRAGMENT_GZ]),
    Route("Keys: group by client", "/claves-prepago", {**RANGE_ALL, "group": "cliente"}, headers=HX,
          expect=CLIENT_NAME, grid=True,
          budgets=[Budget("grouping p50 at 1 connection", "p50@1", "<=", 150, "ms"), GRID_P99, FRAGMENT_GZ]),
    Route("Keys: page 2,000", "/claves-prepago", {**RANGE_ALL, "sort": "-fecha", "page": "2000"}, headers=HX,
          expect=KEY_CODE, grid=True,
          budgets=[Budget("deep page p50 at 1 connection", "p50@1", "<=", 50, "ms"), GRID_P99, FRAGMENT_GZ]),
    Route("Keys: CSV export (1 M)", "/claves-prepago", {**RANGE_ALL, "formato": "csv"}, kind="csv",
          content_type="text/csv", budgets=[Budget("CSV rows per second", "rows_per_s", ">=", 50_000, "rows/s"),
                                         Budget("worker peak RSS during the export", "rss_mb", "<=", 150, "MB")]),
    Route("Reenviar CDA (POST)", "/servicios/{serial}/reenviar-cda", method="POST",
          headers={**HX, "X-CSRFToken": "{csrf}"}, form={}, pool="serials", expect=r"ha sido enviado"),
    # Step 1: the typed key is checked (changes nothing); the answer carries step 2's signed token.
    Route("Activar clave: validate (POST)", "/claves-prepago/activar", method="POST", headers=HX,
          form={"csrf_token": "{csrf}", "keys": "{code}"}, pool="keys", expect=r"válida \(incluye"),
    # Step 3: Confirmar with step 2's token; the winner gets the "Aviso", the other desk a 409.
    Route("Activar clave: confirm (POST, both users)", "/claves-prepago/activar/confirmar", method="POST",
          headers=HX, form={"csrf_token": "{csrf}", "token": "{token}", "destination": "distribuidor",
                            "accept_license": "y"},
          pool="race_keys", kind="race", expect=r"válidos solo para este Escritorio", ok=(200, 409),
          budgets=[Budget("confirmations per second (PostgreSQL)", "confirmed_per_s", ">=", 100, "/s"),
                   Budget("double activations", "doubles", "<=", 0, "")]),
    Route("Iniciar sesión (POST)", "/cuenta/ingresar", method="POST", user=None,
          form={"csrf_token": "{csrf}", "email": "{email}", "password": "{password}", "next": ""}, ok=(303,),
          budgets=[Budget("sign-in p95 at 8 connections", "p95@8", "<=", 300, "ms")]),
]
REFERENCE = Route("/healthz (reference)", "/healthz", user=None, expect=r'"ok"', content_type="application/json")


# --- HTTP without a browser -------------------------------------------------------------------

class Browser:
    """Cookies and requests over http.client; redirects are not followed (their status is the answer)."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}

    def request(self, method, path, headers=None, form=None, stream=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        headers = {"User-Agent": USER_AGENT, **(headers or {})}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        started = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _, val = pair.partition("=")
                if val:
                    self.cookies[key.strip()] = val.strip()
                else:
                    self.cookies.pop(key.strip(), None)
        data = stream(response) if stream else response.read()
        elapsed = time.perf_counter() - started
        conn.close()
        return response.status, dict(response.getheaders()), data, elapsed

    def cookie_header(self):
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def csrf_from(self, path):
        """The CSRF token a page carries (form field or the body's hx-headers)."""
        _status, _headers, body, _ = self.request("GET", path)
        match = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"', body)
        if not match:
            raise RuntimeError(f"{path} no trae un token CSRF")
        return (match.group(1) or match.group(2)).decode()

    def sign_in(self, email, password):
        """A real sign-in: fetch the form, post it with its token; returns the CSRF token of the session."""
        token = self.csrf_from("/cuenta/ingresar")
        status, _headers, body, _ = self.request("POST", "/cuenta/ingresar", form={
            "csrf_token": token, "email": email, "password": password, "next": ""})
        if status not in (302, 303):
            raise RuntimeError(f"no se pudo iniciar sesión como {email}: HTTP {status} {body[:300]!r}")
        return self.csrf_from("/servicios/suscripciones")


# --- the server --------------------------------------------------------------------------------

class Server:
    """gunicorn with deploy/gunicorn.conf.py, serving bench/wsgi.py on a free loopback port."""

    def __init__(self, url, log_path):
        self.url = url
        self.port = _free_port()
        self.log_path = log_path
        self.process = None
        self.secret_key = secrets.token_urlsafe(48)  # the bench signs step tokens with it (see step_tokens)

    def __enter__(self):
        env = dict(os.environ, PORTAL_ENV="production", SECRET_KEY=self.secret_key, DATABASE_URL=self.url,
                   GUNICORN_BIND=f"127.0.0.1:{self.port}", MAIL_DIR=str(DATA / "mail"),
                   RATELIMIT_STORAGE_URI="memory://",
                   # Production refuses to start without its public address and host names.
                   PORTAL_URL=f"http://127.0.0.1:{self.port}", TRUSTED_HOSTS="127.0.0.1")
        gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
        self.log = open(self.log_path, "w")
        entry = os.environ.get("BENCH_WSGI", "bench.wsgi:app")  # "app:app" measures the production limits too
        self.process = subprocess.Popen([gunicorn, "-c", "deploy/gunicorn.conf.py", entry],
                                        cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn terminó al arrancar; ver {self.log_path}")
            try:
                status, *_ = Browser(self.port).request("GET", "/healthz")
                if status == 200 and len(self.workers()) >= self.expected_workers():
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn no respondió en 60 s; ver {self.log_path}")

    def __exit__(self, *exc):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()

    @staticmethod
    def expected_workers():
        return int(os.environ.get("WEB_CONCURRENCY") or 2 * os.cpu_count())

    def workers(self):
        try:
            children = open(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read().split()
        except OSError:
            return []
        return [int(pid) for pid in children]

    def cpu_ticks(self):
        total = 0
        for pid in self.workers():
            try:
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime + stime
        return total

    def wait_idle(self, limit=90):
        """Until the workers have finished what wrk left queued (slow routes leave a backlog behind)."""
        deadline = time.monotonic() + limit
        quiet = 0
        last = self.cpu_ticks()
        while time.monotonic() < deadline and quiet < 2:
            time.sleep(0.25)
            now = self.cpu_ticks()
            quiet = quiet + 1 if now - last <= 2 else 0  # at most 2 ticks (20 ms) of CPU in 250 ms
            last = now

    def reset_peak_rss(self):
        for pid in self.workers():
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")  # resets VmHWM to the current RSS
            except OSError:
                pass

    def peak_rss_mb(self):
        """The largest VmHWM among the workers, in MB."""
        peak = 0
        for pid in self.workers():
            try:
                status = open(f"/proc/{pid}/status").read()
            except OSError:
                continue
            match = re.search(r"VmHWM:\s+(\d+) kB", status)
            if match:
                peak = max(peak, int(match.group(1)))
        return round(peak / 1024, 1)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- wrk -------------------------------------------------------------------------------------------

LUA = r"""
local items = {ITEMS}
local method = "METHOD"
local headers = {HEADERS}
local marker = MARKER
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  marks = 0
  step = tonumber(args[1]) or 1
  pos = id - step
  reqs = {}
  for i, item in ipairs(items) do
    reqs[i] = wrk.format(method, item[1], headers, item[2])
  end
end

function request()
  pos = pos + step
  return reqs[((pos - 1) % #reqs) + 1]
end

function response(status, hdrs, body)
  statuses[status] = (statuses[status] or 0) + 1
  if marker and body and string.find(body, marker, 1, true) then marks = marks + 1 end
end

function done(summary, latency, requests)
  local merged, total_marks = {}, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do merged[k] = (merged[k] or 0) + v end
    total_marks = total_marks + t:get("marks")
  end
  local parts = {}
  for k, v in pairs(merged) do table.insert(parts, string.format('"%d": %d', k, v)) end
  io.write(string.format('BENCHJSON {"requests": %d, "duration_us": %d, "bytes": %d, "marks": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"p50": %d, "p95": %d, "p99": %d, "max": %d, "mean": %.1f, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes, total_marks,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean,
    table.concat(parts, ", ")))
end
"""


def _lua_string(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def lua_script(method, items, headers, marker=None):
    """A wrk script sending `items` ([(path, body-or-None)]) round-robin, thread by thread."""
    rendered = ",\n".join("{%s, %s}" % (_lua_string(p), _lua_string(b) if b is not None else "nil") for p, b in items)
    header_text = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items())
    return (LUA.replace("{ITEMS}", "{" + rendered + "}").replace("METHOD", method)
            .replace("{HEADERS}", "{" + header_text + "}")
            .replace("MARKER", _lua_string(marker) if marker else "nil"))


def wrk(port, script, connections, seconds, background=False, server=None):
    """wrk at `connections` for `seconds`; returns its figures (ms) or a Popen when in background."""
    threads = min(2, connections)
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--timeout", "30s",
               "-s", script, f"http://127.0.0.1:{port}/", "--", str(threads)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if background:
        return process
    result = wrk_result(process)
    if server is not None:
        server.wait_idle()
    return result


def wrk_result(process):
    output, _ = process.communicate()
    line = next((l for l in output.splitlines() if l.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk no dio resultados:\n{output}")
    raw = json.loads(line[len("BENCHJSON "):])
    seconds = raw["duration_us"] / 1e6
    if raw["requests"] == 0:  # nothing finished in time: no latency to report, not a latency of 0
        raw.update(p50=None, p95=None, p99=None, max=None, mean=None)
        return {"requests": 0, "seconds": round(seconds, 2), "rps": 0.0, "p50": None, "p95": None, "p99": None,
                "max": None, "mean": None, "statuses": {}, "errors": raw["errors"], "marks": 0}
    return {
        "requests": raw["requests"], "seconds": round(seconds, 2), "rps": round(raw["requests"] / seconds, 1),
        "p50": raw["p50"] / 1000, "p95": raw["p95"] / 1000, "p99": raw["p99"] / 1000, "max": raw["max"] / 1000,
        "mean": round(raw["mean"] / 1000, 2), "statuses": {int(k): v for k, v in raw["statuses"].items()},
        "errors": raw["errors"], "marks": raw["marks"],
    }


# --- one database --------------------------------------------------------------------------------

def placeholders(meta):
    today = date.fromisoformat(meta["today"])
    return {"today": today.isoformat(), "year_ago": (today - timedelta(days=365)).isoformat(),
            "first_day": (today - timedelta(days=365 * meta["sizes"]["years"])).isoformat()}


def target(route, values):
    """The route's path and query string with the dates filled in."""
    query = {k: v.format(**values) for k, v in route.query.items()}
    return route.path + ("?" + urllib.parse.urlencode(query) if query else "")


class Pools:
    """Per-request values read from the database: the big desk's serials, fresh keys."""

    def __init__(self, url, meta):
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.connect() as conn:
            self.serials = list(conn.execute(text(
                "SELECT serial FROM services WHERE desk_id = :desk AND category = 'suscripciones' "
                "AND acquisition = 'electronica' AND serial IS NOT NULL ORDER BY id"), {"desk": meta["big_desk_id"]}
            ).scalars())
            keys = list(conn.execute(text(
                "SELECT code FROM prepaid_keys WHERE status = 'nueva' AND batch = :batch ORDER BY id"),
                {"batch": POOL_BATCH}).scalars())
            self.user_ids = {who: conn.execute(text("SELECT id FROM users WHERE email = :email"),
                                               {"email": email}).scalar_one() for who, email in USERS.items()}
        engine.dispose()
        self.url = url
        self.desk_ids = {"big": meta["big_desk_id"], "second": meta["second_desk_id"]}
        # Validation reads keys (the last ones, every run); the race confirms them (the first, used up),
        # its probe a few of its own (a raced key confirmed by the probe would look like a double).
        enough = len(keys) > RACE_KEYS + PROBE_KEYS + VALIDATE_KEYS
        self.race_keys = keys[:RACE_KEYS] if enough else []
        self.probe_keys = keys[RACE_KEYS:RACE_KEYS + PROBE_KEYS] if enough else []
        self.keys = keys[-VALIDATE_KEYS:]

    def values(self, pool):
        if pool == "serials":
            return [{"serial": s} for s in self.serials]
        if pool == "keys":
            return [{"code": c} for c in self.keys]
        if pool == "race_keys":
            return [{"code": c} for c in self.race_keys]
        return [{}]


def bench_backend(backend):
    """Everything for one database; returns the results dict (also written to bench/results/)."""
    url = database_url(backend)
    meta_path = DATA / f"{backend}.json"
    if not meta_path.exists():
        raise SystemExit(f"Faltan los datos de {backend}: corre `make bench-data` primero.")
    meta = json.loads(meta_path.read_text())
    if meta["url"] != url or meta["sizes"]["keys"] != Sizes().keys:
        raise SystemExit(f"{meta_path} describe otra carga ({meta['url']}, {meta['sizes']['keys']:,} claves): "
                         f"corre `make bench-data`.")
    values = placeholders(meta)
    settle(url)
    pools = Pools(url, meta)
    results = {"backend": backend, "database": meta["url"], "started": datetime.now().isoformat(timespec="seconds"),
               "seconds_per_point": SECONDS, "connections": CONNECTIONS, "cores": os.cpu_count(),
               "load_average_at_start": os.getloadavg(), "data": meta["counts"], "routes": []}
    results["password_hash"] = _hash_cost(meta.get("password_hash_method"))
    print(f"== {backend}: {meta['counts']['prepaid_keys']:,} claves, {meta['counts']['services']:,} servicios",
          file=sys.stderr)
    with tempfile.TemporaryDirectory() as scratch, Server(url, DATA / f"gunicorn-{backend}.log") as server:
        results["workers"] = len(server.workers())
        sessions = {who: Browser(server.port) for who in ("big", "second")}
        tokens = {who: sessions[who].sign_in(USERS[who], PASSWORD) for who in sessions}
        context = Context(server, sessions, tokens, pools, values, scratch)
        context.reference_script = write_script(context, REFERENCE, None, request_items(context, REFERENCE, None, [{}]))
        warm_up(context)
        reference = measure_route(context, REFERENCE)
        for route in chosen_routes():
            results["routes"].append(measure_route(context, route))
        results["reference"] = reference_of(reference, results["routes"])
        results["peak_rss_mb"] = max([r.get("rss_mb") or 0 for r in results["routes"]] + [server.peak_rss_mb()])
    if not PARTIAL or "alerts" in PARTIAL:
        # After the routes, outside the zip below: its budgets are judged by bench/alerts.py itself.
        results["routes"].append(bench_alerts(url, meta, backend))
    for route_result, route in zip(results["routes"], chosen_routes()):
        judge(route_result, route, results["reference"], backend)
    results["finished"] = datetime.now().isoformat(timespec="seconds")
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"partial-{backend}" if PARTIAL else backend  # a partial run never replaces the latest results
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    (RESULTS / f"{name}.md").write_text(markdown(results))
    return results


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


@dataclass
class Context:
    server: Server
    sessions: dict
    tokens: dict
    pools: Pools
    values: dict
    scratch: str
    reference_script: str = ""


def warm_up(ctx):
    """A few seconds of /healthz and the first page, so no worker is measured while still cold."""
    for route in (REFERENCE, ROUTES[0]):
        session = session_for(ctx, route)
        script = write_script(ctx, route, session, request_items(ctx, route, session, [{}]))
        wrk(ctx.server.port, script, 8, 2, server=ctx.server)


def reference_of(first, routes):
    """/healthz at each level: measured first, then again just before every route's own run.

    Each route's ratio divides by the /healthz run next to it (the machine's speed drifts within
    minutes); the table's reference is the median of all of them, with their spread.
    """
    levels = {}
    for conns in map(str, CONNECTIONS):
        runs = [first["levels"][conns]["rps"]] if conns in first.get("levels", {}) else []
        runs += [r["levels"][conns]["reference_rps"] for r in routes if conns in (r.get("levels") or {})]
        if runs:
            runs.sort()
            levels[conns] = {"rps": runs[len(runs) // 2], "min": runs[0], "max": runs[-1], "runs": len(runs)}
    return {"levels": levels, "bytes": first.get("bytes"), "gz": first.get("gz")}


def measure_route(ctx, route):
    """Probe, then wrk (or the CSV download, or the confirmation race); figures in ms."""
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
        result.update(race(ctx, route))
    else:
        result["levels"] = {}
        for conns in CONNECTIONS:
            reference = None
            if route is not REFERENCE:
                reference = wrk(ctx.server.port, ctx.reference_script, conns, REFERENCE_SECONDS,
                                server=ctx.server)["rps"]
            session = session_for(ctx, route)
            items = request_items(ctx, route, session, ctx.pools.values(route.pool))
            script = write_script(ctx, route, session, items)
            figures = wrk(ctx.server.port, script, conns, SECONDS, server=ctx.server)
            figures["done"] = sum(v for k, v in figures["statuses"].items() if k in route.ok)
            figures["reference_rps"] = reference
            result["levels"][str(conns)] = figures
            print(f"    {conns:>3} conexiones: {figures['rps']:8.1f} req/s  p50 {_ms(figures['p50']):>7} ms  "
                  f"p99 {_ms(figures['p99']):>7} ms  {figures['statuses']}"
                  + (f"  (/healthz {reference:,.0f} req/s)" if reference is not None else ""), file=sys.stderr)
    result["rss_mb"] = ctx.server.peak_rss_mb()
    return result


def session_for(ctx, route):
    """The signed-in user's session, or a new anonymous one (each sign-in run starts signed out)."""
    return ctx.sessions[route.user] if route.user else Browser(ctx.server.port)


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


def probe_through_step_one(ctx, route, session):
    """The confirmation's probe goes the user's way: step 1 validates a key and its answer's token is posted."""
    if not ctx.pools.probe_keys:
        return []
    code = ctx.pools.probe_keys[0]
    status, _headers, body, _ = session.request(
        "POST", "/claves-prepago/activar", headers={"HX-Request": "true"},
        form={"csrf_token": ctx.tokens.get(route.user) or "", "keys": code})
    match = re.search(rb'name="token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="token"', body)
    if status != 200 or not match:
        return [{"code": code, "token": ""}]  # the confirmation's own probe then says what is missing
    return [{"code": code, "token": (match.group(1) or match.group(2)).decode()}]


def step_tokens(secret_key, desk_id, user_id, key_codes):
    """{code: step token}: what step 1 gives each validated key, signed by the app's own function.

    The race measures Confirmar alone; thousands of step-1 requests first would only add minutes
    (step 1 is measured as its own route, and the probe above goes through it for real).
    """
    from types import SimpleNamespace

    from flask import Flask

    from portal.prepaid.steps import make_step_token

    app = Flask("bench-steps")
    app.config["SECRET_KEY"] = secret_key
    desk, user = SimpleNamespace(id=desk_id), SimpleNamespace(id=user_id)
    with app.app_context():
        return {code: make_step_token(desk, user, [code]) for code in key_codes}


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


def resolve_headers(route, ctx, session):
    token = ctx.tokens.get(route.user) if route.user else None
    return {k: v.replace("{csrf}", token or "") for k, v in route.headers.items()}


def request_items(ctx, route, session, values):
    """[(path, body)] for wrk: one per pool value ({"serial": …} or {"code": …})."""
    token = ctx.tokens.get(route.user) if route.user else None
    email = USERS["big"]
    if route.user is None and route.form is not None:
        token = session.csrf_from("/cuenta/ingresar")  # an anonymous session's token, for the sign-in form
    items = []
    for value in values:
        fills = {"csrf": token or "", "email": email, "password": PASSWORD, **value}
        path = target(route, ctx.values).replace("{serial}", fills.get("serial", ""))
        body = None
        if route.form is not None:
            body = urllib.parse.urlencode({k: v.format(**fills) for k, v in route.form.items()})
        items.append((path, body))
    return items


def write_script(ctx, route, session, items, marker=None):
    headers = {"User-Agent": USER_AGENT, **resolve_headers(route, ctx, session)}
    if session is not None and session.cookies:
        headers["Cookie"] = session.cookie_header()
    if route.form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    fd, path = tempfile.mkstemp(suffix=".lua", dir=ctx.scratch)
    with os.fdopen(fd, "w") as f:
        f.write(lua_script(route.method, items, headers, marker=marker))
    return path


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


def race(ctx, route):
    """Both users confirm the same fresh keys at once, 8 connections each; the database decides."""
    codes = ctx.pools.race_keys
    if not codes:
        return {"note": "not enough fresh keys left: run make bench-data"}
    scripts = []
    for who in ("big", "second"):
        route_for = Route(**{**route.__dict__, "user": who})
        session = ctx.sessions[who]
        tokens = step_tokens(ctx.server.secret_key, ctx.pools.desk_ids[who], ctx.pools.user_ids[who], codes)
        items = request_items(ctx, route_for, session, [{"code": c, "token": tokens[c]} for c in codes])
        scripts.append(write_script(ctx, route_for, session, items, marker=route.expect))
    before = _tally(ctx.pools.url, codes)
    runs = [wrk(ctx.server.port, script, 8, SECONDS, background=True) for script in scripts]
    figures = [wrk_result(run) for run in runs]
    ctx.server.wait_idle()
    after = _settled_tally(ctx.pools.url, codes)
    seconds = max(f["seconds"] for f in figures)
    confirmed = after["confirmed"] - before["confirmed"]
    successes = sum(f["marks"] for f in figures)
    mails = after["mails"] - before["mails"]
    print(f"    {confirmed} claves confirmadas en {seconds:.1f} s; {successes} avisos de éxito; {mails} correos; "
          f"{figures[0]['statuses']} {figures[1]['statuses']}", file=sys.stderr)
    return {"race": {"users": figures, "keys_offered": len(codes), "keys_confirmed": confirmed,
                     "per_desk": after["per_desk"], "success_notices": successes, "mails": mails,
                     "seconds": seconds},
            "confirmed_per_s": round(confirmed / seconds, 1),
            # A key holds one desk; a double activation shows as more success notices (or confirmation
            # e-mails) than keys that left `nueva`.
            "doubles": max(0, successes - confirmed, mails - confirmed)}


def _settled_tally(url, codes):
    """The tally once the requests wrk left in flight have finished (two equal readings in a row)."""
    previous = None
    for _ in range(30):
        time.sleep(0.5)
        current = _tally(url, codes)
        if current == previous:
            return current
        previous = current
    return previous


def _tally(url, codes):
    """How many of `codes` left `nueva` (by desk), and how much mail is queued: one statement, one snapshot."""
    from sqlalchemy import bindparam, create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT desk_id, count(*), (SELECT count(*) FROM outbox_messages) FROM prepaid_keys "
            "WHERE code IN :codes AND status <> 'nueva' GROUP BY desk_id "
            "UNION ALL SELECT NULL, 0, (SELECT count(*) FROM outbox_messages)").bindparams(
            bindparam("codes", expanding=True)), {"codes": codes}).all()
    engine.dispose()
    return {"confirmed": sum(n for _d, n, _m in rows), "mails": rows[0][2],
            "per_desk": {str(d): n for d, n, _m in rows if d is not None}}


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


# --- judging and reporting -----------------------------------------------------------------------

def metrics_of(route_result, reference):
    """The figures budgets are written against: "p50@1", "ratio@8", "gz", "rows_per_s", ..."""
    metrics = {k: route_result.get(k) for k in ("gz", "bytes", "first_load_gz", "rows_per_s", "rss_mb",
                                                "confirmed_per_s", "doubles")}
    for conns, figures in (route_result.get("levels") or {}).items():
        for name in ("p50", "p95", "p99", "rps"):
            # No request finished in time: slower than anything measurable, a miss rather than a blank.
            metrics[f"{name}@{conns}"] = figures[name] if figures[name] is not None else float("inf")
        ref = figures.get("reference_rps") or (reference["levels"].get(conns) or {}).get("rps")
        if ref:
            figures["ratio"] = round(figures["rps"] / ref, 4)
            metrics[f"ratio@{conns}"] = figures["ratio"]
    return metrics


def judge(route_result, route, reference, backend):
    metrics = metrics_of(route_result, reference)
    verdicts = []
    for budget in route.budgets:
        value, passed = budget.judge(metrics) if route_result.get("available") else (None, None)
        if "PostgreSQL" in budget.label and backend != "postgresql":
            passed = None  # measured, but the budget is PostgreSQL's
        verdicts.append({"budget": budget.label, "op": budget.op, "limit": budget.limit, "unit": budget.unit,
                         "measured": value, "pass": passed})
    route_result["budgets"] = verdicts


def _ms(value):
    return "" if value is None else f"{value:,.1f}"


def _size(value):
    if value is None:
        return ""
    return f"{value / 1024:,.1f} KB" if value >= 1024 else f"{value} B"


def _figure(value, unit):
    if value is None:
        return "—"
    if value == float("inf"):
        return "none finished"
    if unit == "B":
        return _size(value)
    if unit == "×":
        return f"{value:.1%}"
    return f"{value:,.1f} {unit}".strip()


def markdown(results):
    """The results of one database as Markdown tables."""
    ref = results["reference"]["levels"]
    lines = [f"### {results['backend']} — {results['started']}", "",
             f"{results['data']['prepaid_keys']:,} keys, {results['data']['services']:,} services, "
             f"{results['data']['desks']:,} desks; gunicorn {results['workers']} sync workers on "
             f"{results['cores']} cores; {results['seconds_per_point']:g} s per point; load average at start "
             f"{results['load_average_at_start'][0]:.1f}. Reference /healthz, median of its runs "
             "(one before each route; each route's % divides by the run next to it): "
             + ", ".join(f"{c} conn {v['rps']:,.0f} req/s ({v['min']:,.0f}–{v['max']:,.0f})" for c, v in ref.items())
             + ".", ""]
    if results.get("password_hash"):
        cost = results["password_hash"]
        others = ", ".join(f"`{name}` {ms} ms" for name, ms in cost.get("candidates", {}).items())
        lines += [f"One password check with the configured `{cost['method']}`: {cost['ms']} ms in-process "
                  f"(others, same moment: {others}).", ""]
    lines += ["| route | conn | req/s | % of /healthz | p50 ms | p95 ms | p99 ms | statuses | raw | gzip |",
              "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in results["routes"]:
        if not r.get("available"):
            lines.append(f"| {r['name']} | | | | | | | {r.get('note', '')} | | |")
            continue
        if r.get("levels"):
            for conns, f in r["levels"].items():
                statuses = ", ".join(f"{k}: {v:,}" for k, v in sorted(f["statuses"].items()))
                if not f["requests"]:
                    statuses = f"none finished in {f['seconds']:g} s"
                ratio = f.get("ratio")
                lines.append(f"| {r['name']} | {conns} | {f['rps']:,.1f} | "
                             f"{'' if ratio is None else f'{ratio:.1%}'} | {_ms(f['p50'])} | {_ms(f['p95'])} | "
                             f"{_ms(f['p99'])} | {statuses} | {_size(r.get('bytes'))} | {_size(r.get('gz'))} |")
        elif r.get("csv"):
            c = r["csv"]
            lines.append(f"| {r['name']} | 1 (curl) | {r['rows_per_s']:,.0f} rows/s | | first byte "
                         f"{c['first_byte_ms']} ms | | total {c['seconds'] * 1000:,.0f} | {c['status']}: "
                         f"{c['rows']:,} rows | {_size(c['bytes'])} | |")
        elif r.get("race"):
            c = r["race"]
            statuses = " / ".join(", ".join(f"{k}: {v:,}" for k, v in sorted(u["statuses"].items())) for u in c["users"])
            lines.append(f"| {r['name']} | 2 × 8 | {r['confirmed_per_s']:,.1f} confirmed/s | | "
                         f"{_ms(c['users'][0]['p50'])} | {_ms(c['users'][0]['p95'])} | {_ms(c['users'][0]['p99'])} | "
                         f"{statuses}; {c['keys_confirmed']:,} keys confirmed, {r['doubles']} doubles | "
                         f"{_size(r.get('bytes'))} | {_size(r.get('gz'))} |")
        elif r.get("note"):
            lines.append(f"| {r['name']} | | | | | | | {r['note']} | | |")
    lines += ["", f"Peak RSS of a worker over the run: {results['peak_rss_mb']} MB.", "",
              "| budget | route | limit | measured | result |", "|---|---|---:|---:|---|"]
    for r in results["routes"]:
        for b in r.get("budgets", []):
            verdict = {True: "met", False: "**missed**", None: "not measured"}[b["pass"]]
            if b["pass"] is None and b["measured"] is not None:
                verdict = "measured (budget is for PostgreSQL)"
            if not r.get("available"):
                verdict = "not measured (feature not available)"
            lines.append(f"| {b['budget']} | {r['name']} | {b['op']} {_figure(b['limit'], b['unit'])} | "
                         f"{_figure(b['measured'], b['unit'])} | {verdict} |")
    rss = [f"{r['name']}: {r['rss_mb']} MB" for r in results["routes"] if r.get("rss_mb")]
    if rss:
        lines += ["", "Worker peak RSS per route (VmHWM reset before each): " + "; ".join(rss) + "."]
    return "\n".join(lines) + "\n"


README_START, README_END = "<!-- bench-results:start -->", "<!-- bench-results:end -->"


def readme_block(all_results):
    """The README's condensed results: the key figures per route and every budget, per database."""
    lines = []
    for results in all_results:
        ref = results["reference"]["levels"]
        lines += [f"**{results['backend']}** ({results['started'][:16].replace('T', ' ')}, load average "
                  f"{results['load_average_at_start'][0]:.1f} at start; /healthz "
                  + " / ".join(f"{v['rps']:,.0f}" for v in ref.values()) + " req/s at "
                  + " / ".join(ref) + " connections)", "",
                  "| route | p50 @1 | p95 @8 | p99 @32 | req/s @8 | % of /healthz @8 | gzip |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        missing = []
        for r in results["routes"]:
            if not r.get("available"):
                missing.append(f"{r['name']} ({r.get('note', '').removeprefix('not available ').strip('()')})")
                continue
            levels = r.get("levels") or {}
            if levels:
                at = lambda conns, name: (levels.get(conns) or {}).get(name)  # noqa: E731
                ratio = at("8", "ratio")
                lines.append(f"| {r['name']} | {_ms(at('1', 'p50'))} | {_ms(at('8', 'p95'))} | {_ms(at('32', 'p99'))} "
                             f"| {_ms(at('8', 'rps'))} | {'' if ratio is None else f'{ratio:.1%}'} | "
                             f"{_size(r.get('gz'))} |")
            elif r.get("csv"):
                lines.append(f"| {r['name']} | {r['rows_per_s']:,.0f} rows/s, first byte "
                             f"{r['csv']['first_byte_ms']} ms | | | | | |")
            elif r.get("race"):
                lines.append(f"| {r['name']} | {r['confirmed_per_s']:,.1f} confirmed/s, {r['doubles']} doubles "
                             f"| | | | | |")
        lines.append("")
        if missing:
            lines += ["Not measured, the feature is not in this build: " + "; ".join(missing) + ".", ""]
        verdicts = []
        for r in results["routes"]:
            for b in r.get("budgets", []):
                if r.get("available"):
                    mark = {True: "met", False: "**missed**", None: "—"}[b["pass"]]
                    verdicts.append(f"- {r['name']}: {b['budget']} {b['op']} {_figure(b['limit'], b['unit'])} → "
                                    f"{_figure(b['measured'], b['unit'])}, {mark}")
        if verdicts:
            lines += ["Budgets:", "", *verdicts, ""]
    return "\n".join(lines)


def update_readme(all_results):
    """Put the latest results between the README's markers (nothing happens without them)."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return
    head, rest = text.split(README_START, 1)
    _old, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{readme_block(all_results)}\n{README_END}{tail}")


def main():
    from bench.explain import explain_backend

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
    if PARTIAL:
        return
    # Every database's latest results, also those not run this time.
    latest = [json.loads((RESULTS / f"{b}.json").read_text()) for b in BACKENDS if (RESULTS / f"{b}.json").exists()]
    (RESULTS / "summary.md").write_text("\n".join(markdown(r) for r in latest))
    update_readme(latest)
    print((RESULTS / "summary.md").read_text())


if __name__ == "__main__":
    main()
