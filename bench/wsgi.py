"""The bench's WSGI entry: app.py's `app` as production serves it, with the rate limits raised.

A benchmark sends thousands of sign-ins, CDA resends and key confirmations from one address in
seconds; the limits would refuse nearly all of them and the bench would measure the refusal.
BENCH_LIMIT_FACTOR (default 1,000,000) becomes RATELIMIT_FACTOR, which multiplies every rate of
portal/limits.py — the storage is still asked on every request, so its cost stays in the figures.
BENCH_LIMIT_FACTOR=1 measures the production limits as they are.
"""
import os

os.environ["RATELIMIT_FACTOR"] = os.environ.get("BENCH_LIMIT_FACTOR", "1000000")

from app import app  # noqa: E402,F401  (the factory reads RATELIMIT_FACTOR from the environment)
