"""What a run's figures mean: the metrics budgets are written against, the verdicts, and the reports.

bench/results/<backend>.md and summary.md come from markdown(); bench/README.md's latest results
from results_block() (between its bench-results markers, by write_latest()). The top-level README
is a newcomer's page and holds no results.
"""
from bench.common import ROOT


def neighbours(routes, key, connections):
    """One neighbour's runs at each level, "reference_rps" (/healthz) or "hello_rps" (the hello-world).

    Each runs just before every route's own run, and the route's ratios divide by those runs (the
    machine's speed drifts within minutes); the tables' figure is the median of them all, with
    their spread. /healthz's own line is its own neighbour.
    """
    levels = {}
    for conns in map(str, connections):
        runs = sorted(f[key] for r in routes if (f := (r.get("levels") or {}).get(conns)) and f.get(key) is not None)
        if runs:
            levels[conns] = {"rps": runs[len(runs) // 2], "min": runs[0], "max": runs[-1], "runs": len(runs)}
    return levels


def metrics_of(route_result, reference, hello=None):
    """The figures budgets are written against: "p50@1", "ratio@8", "ratio_hello@8", "gz", "rows_per_s", ..."""
    metrics = {k: route_result.get(k) for k in ("gz", "bytes", "first_load_gz", "rows_per_s", "rss_mb",
                                                "confirmed_per_s", "doubles")}
    for conns, figures in (route_result.get("levels") or {}).items():
        for name in ("p50", "p95", "p99", "rps"):
            # No request finished in time: slower than anything measurable, a miss rather than a blank.
            metrics[f"{name}@{conns}"] = figures[name] if figures[name] is not None else float("inf")
        # Over the neighbour's run beside it, or their median if that one finished nothing.
        for ratio, neighbour, summary in (("ratio", "reference_rps", reference), ("ratio_hello", "hello_rps", hello)):
            base = figures.get(neighbour) or ((summary or {}).get("levels", {}).get(conns) or {}).get("rps")
            if base:
                figures[ratio] = round(figures["rps"] / base, 4)
                metrics[f"{ratio}@{conns}"] = figures[ratio]
    return metrics


def judge(route_result, route, results):
    """The route's budgets against its figures, in route_result["budgets"]: met, missed, or not judged."""
    backend = results["backend"]
    metrics = metrics_of(route_result, results["reference"], results.get("hello"))
    verdicts = []
    for budget in route.budgets:
        value, passed = budget.judge(metrics) if route_result.get("available") else (None, None)
        if "PostgreSQL" in budget.label and backend != "postgresql":
            passed = None  # measured, but the budget is PostgreSQL's
        verdicts.append({"budget": budget.label, "op": budget.op, "limit": budget.limit, "unit": budget.unit,
                         "measured": value, "pass": passed})
    route_result["budgets"] = verdicts


def ms(value):
    return "" if value is None else f"{value:,.1f}"


def _percent(ratio):
    return "" if ratio is None else f"{ratio:.1%}"


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
             + _runs(ref) + "." + _floor(results), ""]
    if results.get("password_hash"):
        cost = results["password_hash"]
        others = ", ".join(f"`{name}` {cost_ms} ms" for name, cost_ms in cost.get("candidates", {}).items())
        lines += [f"One password check with the configured `{cost['method']}`: {cost['ms']} ms in-process "
                  f"(others, same moment: {others}).", ""]
    lines += ["| route | conn | req/s | % of /healthz | % of hello-world | p50 ms | p95 ms | p99 ms | statuses | raw "
              "| gzip |", "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in results["routes"]:
        if not r.get("available"):
            lines.append(f"| {r['name']} | | | | | | | | {r.get('note', '')} | | |")
            continue
        if r.get("levels"):
            for conns, f in r["levels"].items():
                statuses = ", ".join(f"{k}: {v:,}" for k, v in sorted(f["statuses"].items()))
                if not f["requests"]:
                    statuses = f"none finished in {f['seconds']:g} s"
                lines.append(f"| {r['name']} | {conns} | {f['rps']:,.1f} | {_percent(f.get('ratio'))} | "
                             f"{_percent(f.get('ratio_hello'))} | {ms(f['p50'])} | {ms(f['p95'])} | "
                             f"{ms(f['p99'])} | {statuses} | {_size(r.get('bytes'))} | {_size(r.get('gz'))} |")
        elif r.get("csv"):
            c = r["csv"]
            lines.append(f"| {r['name']} | 1 (curl) | {r['rows_per_s']:,.0f} rows/s | | | first byte "
                         f"{c['first_byte_ms']} ms | | total {c['seconds'] * 1000:,.0f} | {c['status']}: "
                         f"{c['rows']:,} rows | {_size(c['bytes'])} | |")
        elif r.get("race"):
            c = r["race"]
            statuses = " / ".join(", ".join(f"{k}: {v:,}" for k, v in sorted(u["statuses"].items())) for u in c["users"])
            lines.append(f"| {r['name']} | 2 × 8 | {r['confirmed_per_s']:,.1f} confirmed/s | | | "
                         f"{ms(c['users'][0]['p50'])} | {ms(c['users'][0]['p95'])} | {ms(c['users'][0]['p99'])} | "
                         f"{statuses}; {c['keys_confirmed']:,} keys confirmed, {r['doubles']} doubles | "
                         f"{_size(r.get('bytes'))} | {_size(r.get('gz'))} |")
        elif r.get("note"):
            lines.append(f"| {r['name']} | | | | | | | | {r['note']} | | |")
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


def _runs(levels):
    return ", ".join(f"{c} conn {v['rps']:,.0f} req/s ({v['min']:,.0f}–{v['max']:,.0f})" for c, v in levels.items())


def _floor(results):
    """The hello-world's sentence, for results that have it (those written before it have not)."""
    hello = results.get("hello")
    if not hello:
        return ""
    return (f" Floor: bench/hello.py, a bare Flask app served by {hello['workers']} workers with the same gunicorn "
            "settings, median of its runs (one before each route, beside /healthz's): " + _runs(hello["levels"]) + ".")


LATEST = ROOT / "bench" / "README.md"
LATEST_START, LATEST_END = "<!-- bench-results:start -->", "<!-- bench-results:end -->"


def results_block(all_results):
    """The condensed latest results: the key figures per route and every budget, per database."""
    lines = []
    for results in all_results:
        ref = results["reference"]["levels"]
        hello = (results.get("hello") or {}).get("levels")
        lines += [f"**{results['backend']}** ({results['started'][:16].replace('T', ' ')}, load average "
                  f"{results['load_average_at_start'][0]:.1f} at start; /healthz "
                  + " / ".join(f"{v['rps']:,.0f}" for v in ref.values()) + " req/s"
                  + (", hello-world " + " / ".join(f"{v['rps']:,.0f}" for v in hello.values()) + " req/s"
                     if hello else "")
                  + " at " + " / ".join(ref) + " connections)", "",
                  "| route | p50 @1 | p95 @8 | p99 @32 | req/s @8 | % of /healthz @8 | % of hello-world @8 | gzip |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        missing = []
        for r in results["routes"]:
            if not r.get("available"):
                missing.append(f"{r['name']} ({r.get('note', '').removeprefix('not available ').strip('()')})")
                continue
            levels = r.get("levels") or {}
            if levels:
                at = lambda conns, name: (levels.get(conns) or {}).get(name)  # noqa: E731
                lines.append(f"| {r['name']} | {ms(at('1', 'p50'))} | {ms(at('8', 'p95'))} | {ms(at('32', 'p99'))} "
                             f"| {ms(at('8', 'rps'))} | {_percent(at('8', 'ratio'))} | "
                             f"{_percent(at('8', 'ratio_hello'))} | {_size(r.get('gz'))} |")
            elif r.get("csv"):
                lines.append(f"| {r['name']} | {r['rows_per_s']:,.0f} rows/s, first byte "
                             f"{r['csv']['first_byte_ms']} ms | | | | | | |")
            elif r.get("race"):
                lines.append(f"| {r['name']} | {r['confirmed_per_s']:,.1f} confirmed/s, {r['doubles']} doubles "
                             f"| | | | | | |")
            elif r.get("fixed_cost"):
                lines.append(f"| {r['name']} | " + "; ".join(
                    f"{name}: {f['fixed_us']:,} of {f['total_us']:,} µs" for name, f in r["fixed_cost"].items())
                    + " | | | | | | |")
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


def write_latest(all_results, path=LATEST):
    """Put the latest results between bench/README.md's markers (nothing happens without them)."""
    replace_block(path, LATEST_START, LATEST_END, results_block(all_results))


def replace_block(path, start, end, block):
    """Put `block` between the file's markers `start` and `end` (nothing happens without them)."""
    text = path.read_text()
    if start not in text or end not in text:
        return
    head, rest = text.split(start, 1)
    _old, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{block}\n{end}{tail}")
