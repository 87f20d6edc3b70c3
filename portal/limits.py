"""Rate limits with custom keys (per account, per system, per desk), on Flask-Limiter's storage.

Flask-Limiter's decorators key on the request; the portal's rules also limit by things only the
view knows (an e-mail tried, a serial, a desk). Both share one storage, so with
RATELIMIT_STORAGE_URI=redis://… every process and host counts together.
"""
import logging
import time
from dataclasses import dataclass

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


def hit(rate, *key):
    """Count one attempt against `rate` ("5/15 minutes") for `key`; fail closed if storage is down."""
    item = parse(rate)
    try:
        allowed = _strategy().hit(item, *key)
        if allowed:
            return Verdict(True)
        reset, _remaining = _strategy().get_window_stats(item, *key)
        return Verdict(False, max(1, int(reset - time.time())))
    except Exception:  # noqa: BLE001 - Redis down: refuse rather than let a brute force through
        log.warning("Almacén de límites no disponible; se rechaza por precaución (%s)", key[:1])
        return Verdict(False, 60, storage_down=True)


def test(rate, *key):
    """Would one more attempt pass? (no attempt is counted). Fails closed like hit()."""
    item = parse(rate)
    try:
        if _strategy().test(item, *key):
            return Verdict(True)
        reset, _remaining = _strategy().get_window_stats(item, *key)
        return Verdict(False, max(1, int(reset - time.time())))
    except Exception:  # noqa: BLE001
        log.warning("Almacén de límites no disponible; se rechaza por precaución (%s)", key[:1])
        return Verdict(False, 60, storage_down=True)


def clear(rate, *key):
    """Forget the attempts counted for `key` (e.g. failures after a successful sign-in)."""
    try:
        _strategy().clear(parse(rate), *key)
    except Exception:  # noqa: BLE001
        log.warning("Almacén de límites no disponible al limpiar (%s)", key[:1])
