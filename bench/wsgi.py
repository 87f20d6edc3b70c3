"""The bench's WSGI entry: app.py's `app` as production serves it, with the rate limits raised.

A benchmark sends thousands of sign-ins, CDA resends and key confirmations from one address in
seconds; the limits would refuse nearly all of them and the bench would measure the refusal.
BENCH_LIMIT_FACTOR (default 1,000,000) multiplies every rate of portal/limits.py — the storage is
still asked on every request, so its cost stays in the figures — and turns off Flask-Limiter's
decorator limits. BENCH_LIMIT_FACTOR=1 measures the production limits as they are.
"""
import os

import limits

import portal.limits

FACTOR = int(os.environ.get("BENCH_LIMIT_FACTOR", "1000000"))


def _raised(rate):
    item = limits.parse(rate)
    return type(item)(item.amount * FACTOR, item.multiples, item.namespace)


if FACTOR > 1:
    portal.limits.parse = _raised

from app import app  # noqa: E402  (imported after the patch, so nothing runs with the real rates)

if FACTOR > 1:
    from portal.extensions import limiter

    limiter.enabled = False
