"""`make bench`'s alerts step: `flask portal alerts` over the bench data, as an operator runs it.

Two runs of the real command on the bench's "today": the first raises and queues every due alert
(the bench users also get a stamp threshold above their balance, so every kind is raised), the
second finds nothing new. Afterwards the alerts, their mails and the thresholds are removed, so
the bench data stays as bench/generate.py made it and the next `make bench` measures a first run
again. Budgets (PostgreSQL): ≤ 10 s with nothing due, ≤ 30 s for the first run.
"""
import os
import re
import secrets
import subprocess
import sys
import time

from sqlalchemy import create_engine, text

from bench.common import DATA_KEY, ROOT, USERS

BUDGETS = [("first run, every due alert queued", "first_s", 30.0), ("run with nothing due", "repeat_s", 10.0)]


def bench_alerts(url, meta, backend):
    """A route-like result for run.py's tables: two timed runs, their output, the budgets."""
    print(f"== {backend}: flask portal alerts", file=sys.stderr)
    engine = create_engine(url)
    try:
        _clean(engine)
        _thresholds(engine)
        first = _timed_run(url, meta["today"])
        repeat = _timed_run(url, meta["today"])
        with engine.connect() as connection:
            queued = connection.scalar(text("SELECT count(*) FROM outbox_messages WHERE kind LIKE 'alert_%'"))
    finally:
        _clean(engine)
        engine.dispose()
    figures = {"first_s": first["seconds"], "repeat_s": repeat["seconds"]}
    budgets = []
    for label, metric, limit in BUDGETS:
        passed = figures[metric] <= limit if backend == "postgresql" else None
        budgets.append({"budget": label, "metric": metric, "op": "<=", "limit": limit, "unit": "s",
                        "measured": figures[metric], "pass": passed})
    note = (f"first run {first['seconds']:.1f} s ({first['alerts']:,} alerts, {first['mails']:,} mails; "
            f"{queued:,} in the outbox), again {repeat['seconds']:.1f} s ({repeat['alerts']:,} alerts)")
    return {"name": "flask portal alerts", "available": True, "note": note, "alerts": {
        "first": first, "repeat": repeat, "queued": queued}, "budgets": budgets}


def _timed_run(url, today):
    env = dict(os.environ, PORTAL_ENV="production", SECRET_KEY=secrets.token_urlsafe(32), DATA_KEY=DATA_KEY, DATABASE_URL=url,
               FLASK_APP="app", PORTAL_URL="http://127.0.0.1:5000", TRUSTED_HOSTS="127.0.0.1", ALERTS_INTERVAL="0")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "flask", "portal", "alerts", "--today", today], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"flask portal alerts falló:\n{done.stderr[-2000:]}")
    found = re.search(r"Avisos nuevos: (\d+); correos en cola: (\d+)", done.stdout)
    return {"seconds": round(seconds, 2), "alerts": int(found[1]), "mails": int(found[2])}


def _thresholds(engine):
    """The bench users want to hear when their desk holds fewer than 10,000,000 stamps: it does."""
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO alert_preferences (user_id, desk_id, payments, validity, expiring_keys, low_stamps, "
            "stamp_threshold, stamp_period, updated_at) "
            "SELECT m.user_id, m.desk_id, true, true, true, true, 10000000, 0, CURRENT_TIMESTAMP "
            "FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email IN (:big, :second)"),
            {"big": USERS["big"], "second": USERS["second"]})


def _clean(engine):
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM outbox_messages WHERE kind LIKE 'alert_%'"))
        connection.execute(text("DELETE FROM alerts"))
        connection.execute(text("DELETE FROM alert_preferences"))
