"""The slowest combination of the keys grid's period, search, filters and grouping, on the big desk.

    python -m bench.worst [sqlite|postgresql ...]

Every combination of COMBINATIONS (the period: the default or the whole range; no grouping, by
status or by client; no search, a word no client has, a common one; no client filter or one that
matches nothing) is requested by the big desk's owner through the app itself (create_app + test
client, signed in through the form), with the portal's STATEMENT_TIMEOUT_SECONDS, one request each
after a warm-up. A request whose statement the bound cancelled answers 503 with the message to
narrow it: bounded, as it must be. Writes bench/results/worst-<backend>.md and prints the slowest.
"""
import itertools
import sys
import time

from bench.common import DATA_KEY, PASSWORD, RESULTS, USERS, database_url, selected_backends

LIST = "/claves-prepago"
PERIODS = {"periodo predeterminado": {}, "todo el rango": {"desde": "2000-01-01", "hasta": "2099-12-31"}}
GROUPS = {"sin agrupar": {}, "por estatus": {"group": "estatus"}, "por cliente": {"group": "cliente"}}
SEARCHES = {"sin búsqueda": {}, "q sin coincidencias": {"q": "zzzz"}, "q común": {"q": "abarrotes"}}
CLIENTS = {"sin filtro de cliente": {}, "cliente sin coincidencias": {"cliente": "zzzz"}}
COMBINATIONS = [(" · ".join(names), {k: v for part in parts for k, v in part.items()})
                for names, parts in (zip(*choice) for choice in itertools.product(
                    PERIODS.items(), GROUPS.items(), SEARCHES.items(), CLIENTS.items()))]


def measure(app, email=USERS["big"], password=PASSWORD, combinations=COMBINATIONS):
    """[(name, query, status, ms)] of every combination, slowest first."""
    client = app.test_client()
    signed_in = client.post("/cuenta/ingresar", data={"email": email, "password": password})
    if signed_in.status_code not in (302, 303):
        raise RuntimeError(f"no se pudo iniciar sesión como {email}: HTTP {signed_in.status_code}")
    client.get(LIST, headers={"HX-Request": "true"})  # warm: templates, caches, the database's pages
    found = []
    for name, query in combinations:
        started = time.perf_counter()
        response = client.get(LIST, query_string=query, headers={"HX-Request": "true"})
        found.append((name, query, response.status_code, round((time.perf_counter() - started) * 1000, 1)))
    return sorted(found, key=lambda row: -row[3])


def report(backend, found, bound):
    """The Markdown table of `found`, the slowest first."""
    slowest = found[0]
    lines = [f"# The keys grid's slowest combination — {backend}", "",
             f"{len(found)} combinations, in-process, STATEMENT_TIMEOUT_SECONDS = {bound:g} "
             "(a 503 is a statement the bound cancelled: the page asks to narrow the search).", "",
             f"**Slowest:** {slowest[0]} → HTTP {slowest[2]} in {slowest[3]} ms", "",
             "| combination | HTTP | ms |", "|---|---:|---:|"]
    lines += [f"| {name} | {status} | {ms} |" for name, _query, status, ms in found]
    return "\n".join(lines) + "\n"


def worst_backend(backend):
    """Write bench/results/worst-<backend>.md; returns the slowest (name, query, status, ms)."""
    from portal import create_app
    from portal.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url(backend), "SECRET_KEY": "bench-worst", "DATA_KEY": DATA_KEY,
                      "WTF_CSRF_ENABLED": False})
    found = measure(app)
    with app.app_context():
        db.engine.dispose()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"worst-{backend}.md").write_text(report(backend, found, app.config["STATEMENT_TIMEOUT_SECONDS"]))
    name, _query, status, ms = found[0]
    print(f"  slowest keys-grid combination ({backend}): {name} → HTTP {status}, {ms} ms "
          f"(bench/results/worst-{backend}.md)", file=sys.stderr)
    return found[0]


def main():
    for backend in sys.argv[1:] or selected_backends():
        worst_backend(backend)


if __name__ == "__main__":
    main()
