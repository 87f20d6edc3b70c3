"""`make bench-scale` and the fixed-cost step without timing anything: the generator's key count, which data the
driver accepts, the budget, the view timed apart."""
import json
from dataclasses import replace

import pytest
from sqlalchemy import create_engine, func, select

from bench import generate as generator
from bench.generate import Sizes, sizes_of
from bench.run import read_meta
from bench.scale import KEY_ROUTES, judge_growth, page_exists, verdict_line
from portal.models import PrepaidKey


def test_keys_sets_the_big_desks_keys_and_nothing_else():
    assert sizes_of(keys=10_000_000) == Sizes(keys=10_000_000)
    assert sizes_of() == Sizes()  # make bench's own data is unchanged
    assert sizes_of(0.001, keys=77) == replace(Sizes().scaled(0.001), keys=77)


def test_the_generator_loads_exactly_the_keys_asked_for_and_says_so(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    monkeypatch.setenv("BENCH_SQLITE", url)
    monkeypatch.setattr(generator, "DATA", tmp_path)  # never bench/data/, which make bench reads
    generator.main(["--db", "sqlite", "--scale", "0.0005", "--keys", "40"])
    meta = json.loads((tmp_path / "sqlite.json").read_text())
    engine = create_engine(url)
    with engine.connect() as conn:
        in_big_desk = conn.scalar(select(func.count()).select_from(PrepaidKey.__table__)
                                  .where(PrepaidKey.desk_id == meta["big_desk_id"]))
    engine.dispose()
    assert in_big_desk == meta["sizes"]["keys"] == 40
    assert meta["sizes"]["clients"] == Sizes().scaled(0.0005).clients
    # The driver serves only data of the size it is measuring: make bench's million, or the scale run's point.
    assert read_meta(tmp_path / "sqlite.json", url, 40)["counts"] == meta["counts"]
    with pytest.raises(SystemExit, match="otra carga"):
        read_meta(tmp_path / "sqlite.json", url, Sizes().keys)


def test_the_key_routes_are_the_grid_reads_and_page_2000_needs_50000_keys():
    assert [route.name for route in KEY_ROUTES] == [
        "Keys: date range + sort", "Keys: + search q", "Keys: group by status", "Keys: group by client",
        "Keys: page 2,000"]
    deep = KEY_ROUTES[-1]
    assert not page_exists(deep, 10_000) and not page_exists(deep, 49_975)
    assert page_exists(deep, 49_976) and page_exists(deep, 100_000)
    assert all(page_exists(route, 1) for route in KEY_ROUTES[:-1])


def _point(keys, **p50):
    routes = [{"name": name, "available": True, "levels": {"1": {"p50": value, "rps": 100.0}}}
              for name, value in p50.items()]
    return {"keys": keys, "routes": routes}


def test_the_budget_judges_each_route_from_1m_to_10m_keys():
    points = [_point(100_000, a=1.0, b=1.0), _point(1_000_000, a=10.0, b=10.0, c=5.0),
              _point(10_000_000, a=15.0, b=15.1, c=None)]
    budget = judge_growth(points)
    by_route = {v["route"]: v for v in budget["routes"]}
    assert by_route["a"]["growth"] == 1.5 and by_route["a"]["pass"] is True  # at the limit is met
    assert by_route["b"]["pass"] is False
    assert by_route["c"]["pass"] is False  # nothing finished at 10 M: a miss, not a blank
    assert budget["pass"] is False
    assert "MISSED" in verdict_line(budget) and "b 1.51×" in verdict_line(budget)


def test_a_route_or_run_without_both_sizes_is_not_judged():
    unavailable = {"name": "page", "available": False, "note": "not available"}
    points = [_point(1_000_000, a=10.0), _point(10_000_000, a=12.0)]
    points[0]["routes"].append(unavailable)
    budget = judge_growth(points)
    assert [v["pass"] for v in budget["routes"]] == [True, None] and budget["pass"] is True
    quick = judge_growth([_point(10_000, a=3.0), _point(100_000, a=4.0)])
    assert quick["pass"] is None and "not judged" in verdict_line(quick)


@pytest.mark.multiprocess
def test_the_fixed_cost_step_times_the_view_apart_from_the_rest_of_each_request(tmp_path, monkeypatch):
    """bench/fixed_cost.py on tiny SQLite bench data: every route answered, its view timed inside the call."""
    import os
    import subprocess
    import sys

    from bench.common import ROOT
    from bench.routes import FIXED_COST

    url = f"sqlite:///{tmp_path / 'bench.db'}"
    monkeypatch.setattr(generator, "DATA", tmp_path)
    monkeypatch.setenv("BENCH_SQLITE", url)
    generator.main(["--db", "sqlite", "--scale", "0.0005"])
    done = subprocess.run([sys.executable, "-m", "bench.fixed_cost", "--db", "sqlite", "--requests", "5",
                           "--meta", str(tmp_path / "sqlite.json")], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, BENCH_SQLITE=url), cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout)
    assert set(figures) == {"hello-world (floor)", *FIXED_COST}
    assert figures["hello-world (floor)"]["view_us"] == 0  # no view of the portal's: all of it is the floor
    for name in FIXED_COST:
        f = figures[name]
        assert f["requests"] == 5 and 0 < f["view_us"] < f["total_us"] and 0 < f["fixed_us"] < f["total_us"]
