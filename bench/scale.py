"""`make bench-scale`: the keys routes of `make bench` from 10 thousand to 10 million keys, on PostgreSQL.

    python -m bench.scale        (BENCH_SCALE_SIZES="10000 100000" for a quick run)

For each size, smallest first: bench/generate.py makes the database BENCH_SCALE_POSTGRES (`bench_scale`,
never `make bench`'s `bench`) afresh with that many keys in the big desk and everything else as `make
bench` has it (5,000 clients, 200,000 services, ...: one thing changes along the curve); VACUUM
(ANALYZE) as bench/run.py settles its data; the database's size on disk; then the same gunicorn, real
sign-in and wrk as bench/run.py (its `serving` and `measure_route`), each `Keys:` route of
bench/routes.py at 1 and 8 connections, each run beside the hello-world's and /healthz's.

The budget: from 1 M to 10 M keys no key route's p50 at 1 connection grows more than 1.5×. A miss is
printed and recorded (scale.json's "budget"), and the run still ends well, as `make bench` does.
Results: bench/results/scale.json and scale.png, the tables in bench/README.md between its
bench-scale markers; a run with other sizes writes bench/results/partial-scale.* only.
"""
import json
import os
import sys
import time
from dataclasses import replace
from datetime import datetime

from bench.common import DATA, RESULTS, ROOT, scale_database_url
from bench.generate import Sizes, generate
from bench.report import ms, neighbours, replace_block
from bench.routes import ROUTES
from bench.run import REFERENCE_SECONDS, SECONDS, measure_route, read_meta, serving, settle

DEFAULT_SIZES = (10_000, 100_000, 1_000_000, 10_000_000)
SIZES = [int(n.replace("_", "")) for n in os.environ.get("BENCH_SCALE_SIZES", "").replace(",", " ").split()] \
    or list(DEFAULT_SIZES)
CONNECTIONS = [1, 8]  # p50 with nobody else asking; req/s with every worker busy (2 × cores)
GROWTH = {"from": 1_000_000, "to": 10_000_000, "limit": 1.5}  # p50 at 1 connection, to over from
KEY_ROUTES = [route for route in ROUTES if route.name.startswith("Keys:") and route.kind == "wrk"]
META = DATA / "scale.json"  # what the generator loaded into bench_scale (bench/data/, like make bench's)
README = ROOT / "bench" / "README.md"
README_START, README_END = "<!-- bench-scale:start -->", "<!-- bench-scale:end -->"


def page_exists(route, keys):
    """Whether the route's page (`page` in its query) exists among `keys` keys (the keys grid's 25 a page).

    Page 2,000 starts at key 49,976: at 10,000 keys the grid would answer its last page, 400, with a
    notice, a different query (an exact count first), so that size reports it as not available.
    """
    from portal.prepaid.grids import KEYS

    page = int(route.query.get("page", 1))
    return (page - 1) * KEYS.per_page < keys


def disk(url):
    """Bytes on disk: the database, prepaid_keys' table (with TOAST) and its indexes, each index."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        database, table, indexes = conn.execute(text(
            "SELECT pg_database_size(current_database()), pg_table_size('prepaid_keys'), "
            "pg_indexes_size('prepaid_keys')")).one()
        each = dict(conn.execute(text(
            "SELECT i.relname, pg_relation_size(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = 'prepaid_keys'::regclass ORDER BY 2 DESC, 1")).all())
    engine.dispose()
    return {"database_bytes": database, "prepaid_keys_table_bytes": table, "prepaid_keys_indexes_bytes": indexes,
            "prepaid_keys_index_bytes": each}


def measure_size(keys, url):
    """One point of the curve: the data built, settled and weighed, then each key route measured."""
    print(f"== {keys:,} claves en {url}", file=sys.stderr)
    started = time.monotonic()
    generate("postgresql", replace(Sizes(), keys=keys), url=url, meta_path=META)
    built = time.monotonic() - started
    meta = read_meta(META, url, keys, remedy="corre `make bench-scale`")  # gunicorn only on data of this size
    settle(url)
    point = {"keys": keys, "build_seconds": round(built, 1), **disk(url), "counts": meta["counts"],
             "started": datetime.now().isoformat(timespec="seconds"), "load_average_at_start": os.getloadavg(),
             "routes": []}
    print(f"  {built:.0f} s; {_bytes(point['database_bytes'])} en disco", file=sys.stderr)
    with serving(url, meta, "scale") as ctx:
        point["workers"] = len(ctx.server.workers())
        for route in KEY_ROUTES:
            if page_exists(route, keys):
                point["routes"].append(measure_route(ctx, route, CONNECTIONS))
            else:
                note = f"not available: page {route.query['page']} does not exist among {keys:,} keys"
                print(f"  {route.name}: {note}", file=sys.stderr)
                point["routes"].append({"name": route.name, "available": False, "note": note})
    for name, key in (("reference", "reference_rps"), ("hello", "hello_rps")):
        point[name] = neighbours(point["routes"], key, CONNECTIONS)
    return point


def figure(point, name, conns, metric):
    """One route's figure at one size (ms or req/s); None where it was not measured."""
    route = next((r for r in point["routes"] if r["name"] == name), None)
    level = ((route or {}).get("levels") or {}).get(str(conns))
    if level is None:
        return None
    value = level.get(metric)
    return float("inf") if value is None else value  # nothing finished: slower than anything measurable


def judge_growth(points, start=GROWTH["from"], end=GROWTH["to"], limit=GROWTH["limit"]):
    """Each key route's p50 at 1 connection at `end` keys over `start`: met at most `limit` times, else missed.

    A route not measured at both sizes is not judged (pass None); the whole is missed if any route
    misses, met if every judged route is met, not judged if none is.
    """
    at = {point["keys"]: point for point in points}
    names = list(dict.fromkeys(r["name"] for point in points for r in point["routes"]))
    verdicts = []
    for name in names:
        low, high = (figure(at[k], name, 1, "p50") if k in at else None for k in (start, end))
        growth = high / low if low and high is not None else None
        verdicts.append({"route": name, "p50_from_ms": low, "p50_to_ms": high,
                         "growth": None if growth is None else round(growth, 3),
                         "pass": None if growth is None else growth <= limit})
    judged = [v["pass"] for v in verdicts if v["pass"] is not None]
    return {"budget": f"p50 at 1 connection grows at most {limit:g}× from {_keys(start)} to {_keys(end)} keys",
            "from": start, "to": end, "limit": limit, "routes": verdicts,
            "pass": all(judged) if judged else None}


def verdict_line(budget):
    """The budget in one line: met, missed (which routes), or not judged."""
    if budget["pass"] is None:
        return f"{budget['budget']}: not judged (this run did not measure both sizes)."
    if budget["pass"]:
        return f"{budget['budget']}: met."
    missed = [f"{v['route']} {v['growth']:.2f}×" for v in budget["routes"] if v["pass"] is False]
    return f"{budget['budget']}: **MISSED** ({', '.join(missed)})."


def tables(results):
    """bench/README.md's block: the sizes (time, disk), then p50 at 1 and req/s at 8 per route and size."""
    points = results["sizes"]
    heads = " | ".join(_keys(p["keys"]) for p in points)
    rule = "|---" + "|---:" * len(points)
    lines = [f"Run of {results['started'][:16].replace('T', ' ')}, {results['seconds_per_point']:g} s per point, "
             f"{results['cores']} cores; `make bench-scale` took {_duration(results['seconds'])}.", "",
             f"| keys | {heads} |", rule + "|"]
    rows = [("build (generate + VACUUM ANALYZE)", lambda p: _duration(p["build_seconds"])),
            ("database on disk", lambda p: _bytes(p["database_bytes"])),
            ("prepaid_keys table / indexes", lambda p: f"{_bytes(p['prepaid_keys_table_bytes'])} / "
                                                       f"{_bytes(p['prepaid_keys_indexes_bytes'])}"),
            ("/healthz req/s @8 (median)", lambda p: _rps((p["reference"].get("8") or {}).get("rps"))),
            ("hello-world req/s @8 (median)", lambda p: _rps((p["hello"].get("8") or {}).get("rps")))]
    lines += [f"| {label} | " + " | ".join(cell(p) for p in points) + " |" for label, cell in rows]
    growth = {v["route"]: v for v in results["budget"]["routes"]}
    for title, conns, metric, show in (("p50 ms at 1 connection (p99)", 1, "p50", _latency),
                                       ("req/s at 8 connections (p99 ms)", 8, "rps", _throughput)):
        lines += ["", f"| {title} | {heads} | {_keys(GROWTH['to'])} / {_keys(GROWTH['from'])} |", rule + "|---:|"]
        for route in KEY_ROUTES:
            cells = [show(p, route.name, conns) for p in points]
            ratio = _ratio(route.name, points, conns, metric) if metric == "rps" else growth.get(route.name, {})
            lines.append(f"| {route.name} | " + " | ".join(cells) + f" | {_growth(ratio, metric)} |")
    lines += ["", verdict_line(results["budget"])]
    return "\n".join(lines)


def _latency(point, name, conns):
    p50, p99 = figure(point, name, conns, "p50"), figure(point, name, conns, "p99")
    return "n/a" if p50 is None else f"{ms(p50)} ({ms(p99)})"


def _throughput(point, name, conns):
    rps, p99 = figure(point, name, conns, "rps"), figure(point, name, conns, "p99")
    return "n/a" if rps is None else f"{_rps(rps)} ({ms(p99)})"


def _ratio(name, points, conns, metric):
    at = {p["keys"]: p for p in points}
    if GROWTH["from"] not in at or GROWTH["to"] not in at:
        return {}
    low, high = (figure(at[k], name, conns, metric) for k in (GROWTH["from"], GROWTH["to"]))
    return {"growth": round(high / low, 3)} if low and high is not None else {}


def _growth(verdict, metric):
    value = verdict.get("growth")
    if value is None:
        return "—"
    if metric == "rps":
        return f"{value:.2f}×"
    return f"{value:.2f}×" + ("" if verdict.get("pass") else " **missed**")


def _keys(n):
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size and n % size == 0:
            return f"{n // size:,} {unit}"
    return f"{n:,}"


def _bytes(n):
    return f"{n / 2 ** 30:,.2f} GB" if n >= 2 ** 30 else f"{n / 2 ** 20:,.0f} MB"


def _rps(value):
    return "—" if value is None else f"{value:,.0f}"


def _duration(seconds):
    whole = round(seconds)  # rounded first: 179.6 s is 3 min 0 s, not 2 min 60 s
    return f"{whole} s" if whole < 120 else f"{whole // 60} min {whole % 60} s"


def plot(results, path):
    """Two panels over the keys (log scale): p50 at 1 connection, req/s at 8, a line per key route."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = results["sizes"]
    figure_, (left, right) = plt.subplots(1, 2, figsize=(12, 5), constrained_layout=True)
    for index, route in enumerate(KEY_ROUTES):
        for axis, conns, metric in ((left, 1, "p50"), (right, 8, "rps")):
            xy = [(p["keys"], value) for p in points
                  if (value := figure(p, route.name, conns, metric)) is not None and value != float("inf")]
            if xy:  # a colour per route, the same in both panels whichever sizes it has
                axis.plot(*zip(*xy), marker="o", color=f"C{index}", label=route.name.removeprefix("Keys: "))
    healthz = [(p["keys"], p["reference"]["8"]["rps"]) for p in points if p["reference"].get("8")]
    if healthz:
        right.plot(*zip(*healthz), color="grey", linestyle="--", marker=".", label="/healthz (reference)")
    for axis, label in ((left, "p50 at 1 connection (ms)"), (right, "req/s at 8 connections")):
        axis.set_xscale("log")
        axis.set_xlabel("prepaid keys in the desk")
        axis.set_ylabel(label)
        axis.set_ylim(bottom=0)
        axis.set_xticks([p["keys"] for p in points], [_keys(p["keys"]) for p in points])
        axis.minorticks_off()
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize="small")
    budget = results["budget"]
    verdict = {True: "met", False: "MISSED", None: "not judged"}[budget["pass"]]
    figure_.suptitle(f"Claves prepago on PostgreSQL ({points[0].get('workers', '?')} gunicorn workers, "
                     f"{results['cores']} cores). Budget: {budget['budget']}: {verdict}")
    figure_.savefig(path, dpi=110)
    plt.close(figure_)


def main():
    url = scale_database_url()
    sizes = sorted(set(SIZES))
    name = "scale" if tuple(sizes) == DEFAULT_SIZES else "partial-scale"  # only the full curve is the result
    started = time.monotonic()
    results = {"database": url, "started": datetime.now().isoformat(timespec="seconds"), "cores": os.cpu_count(),
               "seconds_per_point": SECONDS, "reference_seconds": REFERENCE_SECONDS, "connections": CONNECTIONS,
               "routes": [route.name for route in KEY_ROUTES], "sizes": []}
    RESULTS.mkdir(parents=True, exist_ok=True)
    for keys in sizes:
        results["sizes"].append(measure_size(keys, url))
    results["budget"] = judge_growth(results["sizes"])
    results["seconds"] = round(time.monotonic() - started, 1)
    results["finished"] = datetime.now().isoformat(timespec="seconds")
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    plot(results, RESULTS / f"{name}.png")
    block = tables(results)
    if name == "scale":
        replace_block(README, README_START, README_END, block)
    print(block)
    print(f"Results: {RESULTS / name}.json, .png", file=sys.stderr)


if __name__ == "__main__":
    main()
