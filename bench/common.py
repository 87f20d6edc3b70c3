"""What the generator and the driver share: where the data is, who signs in, with what."""
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results"

# Both bench users share this password; its hash is computed once per database.
PASSWORD = "banco-de-pruebas-2026"
USERS = {
    "big": "bench@escritorio-bench.mx",      # owns the distributor desk with 1,000,000 keys
    "second": "bench2@escritorio-bench.mx",  # owns another distributor desk (the second account)
}
# The bench's DATA_KEY (portal/sealed.py): the generator seals the CDAs with it, and every app the
# bench starts reads them with it, whatever SECRET_KEY each run picks.
DATA_KEY = "bench-data-key-escritorio-2026"
POOL_BATCH = "bench-pool"  # `nueva` keys kept for the confirmation benchmark
BACKENDS = ("sqlite", "postgresql")


def database_url(backend):
    """The bench database of one backend (BENCH_POSTGRES / BENCH_SQLITE override the defaults)."""
    if backend == "sqlite":
        return os.environ.get("BENCH_SQLITE") or f"sqlite:///{DATA / 'bench.db'}"
    return _psycopg(os.environ.get("BENCH_POSTGRES") or "postgresql://postgres@127.0.0.1:5432/bench")


def scale_database_url():
    """`make bench-scale`'s own PostgreSQL database (BENCH_SCALE_POSTGRES), never the one `make bench` reads."""
    return _psycopg(os.environ.get("BENCH_SCALE_POSTGRES") or "postgresql://postgres@127.0.0.1:5432/bench_scale")


def _psycopg(url):
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", url)


def backend_of(url):
    return "postgresql" if url.startswith("postgres") else "sqlite"


def selected_backends():
    """BENCH_DBS="sqlite postgresql" (default both), for a quicker run on one of them."""
    chosen = os.environ.get("BENCH_DBS", " ".join(BACKENDS)).replace(",", " ").split()
    unknown = set(chosen) - set(BACKENDS)
    if unknown:
        raise SystemExit(f"BENCH_DBS: bases desconocidas {sorted(unknown)} (usa sqlite, postgresql)")
    return chosen
