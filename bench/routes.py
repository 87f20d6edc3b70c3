"""The benchmark's routes: what `make bench` requests, with which parameters, and the budgets each must meet.

One Route a line of the results; ROUTES in the order they are measured. Two neighbours run before
each of them at the same connections, and its ratios divide by theirs: REFERENCE, the portal's
/healthz, and HELLO, the bare Flask app of bench/hello.py under the same gunicorn settings (the
framework's floor). Paths, query parameters and form fields follow PRODUCT.md §2-3: a feature's
branch that renames one changes it here, and bench/run.py and bench/explain.py follow.
"""
import urllib.parse
from dataclasses import dataclass, field
from datetime import date, timedelta

KEY_CODE = r"(?:[0-9A-Z•]{4}-){3}[0-9A-Z]{4}|[0-9A-HJKMNP-TV-Z]{16}"  # a key's code on a page, masked or not
CLIENT_NAME = r"(?:Abarrotes|Ferretería|Farmacia|Refaccionaria|Hotel)[^<]* \d+ S\.A\. de C\.V\."  # bench clients
RANGE_ALL = {"desde": "{first_day}", "hasta": "{today}"}
RANGE_YEAR = {"desde": "{year_ago}", "hasta": "{today}"}
HX = {"HX-Request": "true"}


@dataclass
class Budget:
    label: str
    metric: str   # a key of bench.report.metrics_of(): "p50@1", "ratio@8", "ratio_hello@8", "gz", ...
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


def floor_ratio(limit):
    """req/s at 8 connections as a share of the hello-world's, the run next to it (both databases)."""
    return Budget("req/s at 8 connections vs the hello-world", "ratio_hello@8", ">=", limit, "×")


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
          budgets=[Budget("first load HTML + CSS + JS gzipped", "first_load_gz", "<=", 40 * 1024, "B"),
                   floor_ratio(0.08), GRID_P99]),
    Route("Keys: date range + sort", "/claves-prepago", {**RANGE_YEAR, "sort": "-fecha"}, headers=HX,
          expect=KEY_CODE, grid=True,
          budgets=[Budget("p50 at 1 connection", "p50@1", "<=", 20, "ms"),
                   Budget("req/s at 8 connections vs /healthz", "ratio@8", ">=", 0.20, "×"), floor_ratio(0.12),
                   GRID_P99, FRAGMENT_GZ]),
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
          budgets=[Budget("deep page p50 at 1 connection", "p50@1", "<=", 50, "ms"), floor_ratio(0.08),
                   GRID_P99, FRAGMENT_GZ]),
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
REFERENCE = Route("/healthz (reference)", "/healthz", user=None, expect=r'"ok"', content_type="application/json",
                  budgets=[floor_ratio(0.60)])
HELLO = Route("hello-world (floor)", "/", user=None, expect=r'"ok"', content_type="application/json")


def placeholders(meta):
    """The dates a route's query is filled with, counted from the bench data's own today."""
    today = date.fromisoformat(meta["today"])
    return {"today": today.isoformat(), "year_ago": (today - timedelta(days=365)).isoformat(),
            "first_day": (today - timedelta(days=365 * meta["sizes"]["years"])).isoformat()}


def target(route, values):
    """The route's path and query string with the dates filled in."""
    query = {k: v.format(**values) for k, v in route.query.items()}
    return route.path + ("?" + urllib.parse.urlencode(query) if query else "")

# bench/fixed_cost.py: the routes whose fixed cost (outside the view's own work) is measured in process;
# the first is the grid request the budget is for.
FIXED_COST = ("Keys: date range + sort", "Suscripciones (page)", "Keys: page 2,000", REFERENCE.name)
FIXED_COST_BUDGET = Budget("fixed cost of a signed-in grid request, in process", "fixed_us", "<=", 300, "µs")
