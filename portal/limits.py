"""Rate limits with custom keys (per account, per system, per desk), on Flask-Limiter's storage.

Flask-Limiter's decorators key on the request; the portal's rules also limit by things only the
view knows (an e-mail tried, a serial, a desk). Both share one storage, so with
RATELIMIT_STORAGE_URI=redis://… every process and host counts together.
"""
import logging
import time
from dataclasses import dataclass

from flask import current_app, has_app_context
from limits import parse

from portal.extensions import limiter

log = logging.getLogger("portal.limits")


@dataclass
class Verdict:
    allowed: bool
    retry_after: int = 0  # seconds until the window lets another attempt through
    storage_down: bool = False

    @property
    def minutes(self):
        """Whole minutes to wait, at least 1, for messages like "inténtalo en N minutos"."""
        return max(1, -(-self.retry_after // 60))


def _strategy():
    return limiter.limiter


def _prefixed(key):
    # RATELIMIT_KEY_PREFIX keeps two portals (or two test runs) on one Redis apart; Flask-Limiter
    # applies it to its own decorators only, so custom keys get it here.
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") if has_app_context() else None
    return (prefix, *key) if prefix else key


def hit(rate, *key):
    """Count one attempt against `rate` ("5/15 minutes") for `key`; fail closed if storage is down."""
    item, full = parse(rate), _prefixed(key)
    try:
        allowed = _strategy().hit(item, *full)
        if allowed:
            return Verdict(True)
        reset, _remaining = _strategy().get_window_stats(item, *full)
        return Verdict(False, max(1, int(reset - time.time())))
    except Exception:  # noqa: BLE001 - Redis down: refuse rather than let a brute force through
        log.warning("Almacén de límites no disponible; se rechaza por precaución (%s)", key[:1])
        return Verdict(False, 60, storage_down=True)


def test(rate, *key):
    """Would one more attempt pass? (no attempt is counted). Fails closed like hit()."""
    item, full = parse(rate), _prefixed(key)
    try:
        if _strategy().test(item, *full):
            return Verdict(True)
        reset, _remaining = _strategy().get_window_stats(item, *full)
        return Verdict(False, max(1, int(reset - time.time())))
    except Exception:  # noqa: BLE001
        log.warning("Almacén de límites no disponible; se rechaza por precaución (%s)", key[:1])
        return Verdict(False, 60, storage_down=True)


def clear(rate, *key):
    """Forget the attempts counted for `key` (e.g. failures after a successful sign-in)."""
    try:
        _strategy().clear(parse(rate), *_prefixed(key))
    except Exception:  # noqa: BLE001
        log.warning("Almacén de límites no disponible al limpiar (%s)", key[:1])
