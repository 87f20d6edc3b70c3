"""What the probes cost in process: /healthz and /readyz through the WSGI call, beside the hello-world.

    python -m bench.probes [--db sqlite|postgresql] [--requests 2000]     # prints JSON, medians in µs

A short measure of its own (no bench data needed: a freshly migrated empty database, dropped after):
the app built with production settings as bench/fixed_cost.py builds it, each probe called
`requests` times through the WSGI interface as gunicorn calls it, the collector frozen as a worker
has it. /healthz touches nothing outside the process; /readyz pays its two statements (SELECT 1
and the schema's revision) on a pooled connection.
"""
import argparse
import gc
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from bench.fixed_cost import _environ


def measure(backend, requests):
    from sqlalchemy import create_engine, text

    admin = name = None
    if backend == "postgresql":
        base = os.environ.get("BENCH_POSTGRES_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
        name = f"portal_probes_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.rsplit("/", 1)[0] + "/" + name
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='portal-probes-')}/portal.db"
    try:
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "sondas-" + secrets.token_hex(16)}
        subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], env=env, check=True,
                       capture_output=True)
        os.environ.update(PORTAL_ENV="production", SECRET_KEY=secrets.token_urlsafe(48), DATABASE_URL=url,
                          PORTAL_URL="http://127.0.0.1:8000", TRUSTED_HOSTS="127.0.0.1",
                          RATELIMIT_STORAGE_URI="memory://")
        from bench.hello import app as hello
        from portal import create_app

        app = create_app()
        gc.collect()
        gc.freeze()
        figures = {"hello-world (floor)": _median_us(hello, "/", requests)}
        for path in ("/healthz", "/readyz"):
            figures[path] = _median_us(app, path, requests)
        with app.app_context():
            from portal.extensions import db
            db.engine.dispose()
        return figures
    finally:
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _median_us(app, path, requests):
    environ = _environ(path, {})
    times = []
    for n in range(requests + 30):
        started = time.perf_counter()
        body = app(dict(environ), lambda status, headers, exc_info=None: None)
        b"".join(body)
        getattr(body, "close", lambda: None)()
        if n >= 30:  # warmed up
            times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1e6)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=2000)
    options = parser.parse_args()
    print(json.dumps({"db": options.db, "median_us": measure(options.db, options.requests)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
