"""The portal's rate limits: one table of named limits, one RateLimited error, one way to count.

A limit is declared once, in LIMITS, by name: its rate and the Spanish sentence a refused person
reads ({wait} becomes "15 minutos"). Code counts against it by name with the key it limits by:

    limits.hit("signin_account_address", email, ip)   # raises RateLimited when over

Counting happens before the work it guards (hit-then-check): the storage's increment is atomic,
so requests racing through several processes cannot all pass a test made before any of them
counted. An attempt that turns out not to count (a right password) is given back with refund().

Every limit is kept in one storage of the `limits` library (fixed windows), so with
RATELIMIT_STORAGE_URI=redis://… every process and host counts together; when the storage is down
every limit refuses (fail closed). It is asked only where a limit is counted: a request that meets
no limit never touches it.
RATELIMIT_FACTOR multiplies every rate (the bench raises them; 1 in production). The 429 answer —
page, htmx fragment or JSON, always with Retry-After — is portal.errors.rate_limited.
"""
import logging
import time
from dataclasses import dataclass

from flask import current_app, has_app_context
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

log = logging.getLogger("portal.limits")
EXTENSION = "portal.limits"

TRIES = "Demasiados intentos. Inténtalo de nuevo en {wait}."
UNAVAILABLE = ("No podemos procesar tu solicitud en este momento por una falla temporal. "
               "Inténtalo de nuevo en unos minutos.")


@dataclass(frozen=True)
class Limit:
    rate: str             # "5/15 minutes"; or the name of the setting that holds it (config=True)
    message: str = TRIES  # what the refused person reads; {wait} is the time left
    unavailable: str = UNAVAILABLE  # what they read when the storage is down
    config: bool = False


LIMITS = {
    # Sign-in failures (portal/auth/throttle.py). Per address and account, so nobody else's typing
    # locks an owner out; past the account's ceiling an address it never signed in from is slowed
    # to its first attempt of the window, never locked out.
    "signin_address": Limit("20/15 minutes"),
    "signin_account_address": Limit("5/15 minutes"),
    "signin_account": Limit("10/15 minutes"),
    # E-mail-sending actions (registration, reset, verification, e-mail change), every request.
    "mail_address": Limit("10/hour"),
    "mail_account_address": Limit("3/hour"),
    "mail_account": Limit("10/day"),  # ceiling per recipient, for addresses the account never used
    "mail_user": Limit("3/hour"),
    "password_check": Limit("5/15 minutes"),  # wrong current password in Mi perfil, per user
    # Two-factor codes (sign-in's second step and Mi perfil), per address and per account: a code
    # of a million values, 5 tries per 15 minutes, cannot be guessed. Past the account's ceiling an
    # address is slowed to its first code of the window (the owner's right code still passes).
    "two_factor_address": Limit("20/15 minutes"),
    "two_factor_account_address": Limit("5/15 minutes"),
    "two_factor_account": Limit("5/15 minutes"),
    "cda_system": Limit("3/hour", "Podrás solicitarlo de nuevo en {wait}."),
    "cda_desk": Limit("20/day", "Podrás solicitarlo de nuevo en {wait}."),
    "prepaid_validation": Limit(  # failed key validations, per user and per address
        "10/15 minutes", "Demasiados intentos fallidos de validar claves. Espera {wait} e inténtalo de nuevo.",
        "No es posible validar claves en este momento. Inténtalo de nuevo en unos minutos."),
    # Invitations and hand-over offers sent, per desk and per owner: nobody mails strangers through a desk.
    "invitation_desk": Limit("30/day", "Este escritorio envió demasiadas invitaciones hoy; podrás enviar más en {wait}."),
    "invitation_owner": Limit("10/hour", "Enviaste demasiadas invitaciones; podrás enviar más en {wait}."),
    "api_token": Limit("API_RATE_LIMIT", "Demasiadas solicitudes con este token; espera {wait}.", config=True),
}


class RateLimited(Exception):
    """Over the limit `name` (or its storage is down); `retry_after` seconds until it lets one through."""

    status = 429

    def __init__(self, name, retry_after, storage_down=False):
        self.name, self.retry_after, self.storage_down = name, retry_after, storage_down
        limit = LIMITS[name]
        super().__init__(limit.unavailable if storage_down else limit.message.format(wait=wait_words(retry_after)))

    @property
    def minutes(self):
        """Whole minutes to wait, at least 1."""
        return max(1, -(-self.retry_after // 60))


def wait_words(seconds):
    """"1 minuto", "15 minutos" (rounded up), or "N s" under a minute for the API."""
    minutes = max(1, -(-seconds // 60))
    return f"{minutes} minuto" + ("" if minutes == 1 else "s")


def rate(name):
    """The limit `name` as a rate item, raised by RATELIMIT_FACTOR."""
    limit = LIMITS[name]
    config = current_app.config if has_app_context() else {}
    item = parse(config[limit.rate] if limit.config else limit.rate)
    factor = int(config.get("RATELIMIT_FACTOR") or 1)
    return type(item)(item.amount * factor, item.multiples, item.namespace) if factor > 1 else item


def init_app(app):
    """The app's counter of attempts, in the storage RATELIMIT_STORAGE_URI names (memory:// or redis://…)."""
    app.extensions[EXTENSION] = FixedWindowRateLimiter(storage_from_string(app.config["RATELIMIT_STORAGE_URI"]))


def _strategy():
    return current_app.extensions[EXTENSION]


def _key(name, key):
    # RATELIMIT_KEY_PREFIX keeps two portals (or two test runs) on one Redis apart.
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") if has_app_context() else None
    parts = (name, *(str(part).strip().lower() for part in key))
    return (prefix, *parts) if prefix else parts


def _refusal(name, item, full):
    from portal import metrics

    metrics.count_limit_hit(name)
    reset, _remaining = _strategy().get_window_stats(item, *full)
    # The library's windows count real epoch seconds, not the portal's clock.
    return RateLimited(name, max(1, int(reset - time.time())))


def hit(name, *key):
    """Count one attempt against the limit `name` for `key`; RateLimited if it is over."""
    item, full = rate(name), _key(name, key)
    try:
        if _strategy().hit(item, *full):
            return
        refusal = _refusal(name, item, full)
    except Exception:  # noqa: BLE001 - Redis down: refuse rather than let a brute force through
        log.warning("Almacén de límites no disponible; se rechaza por precaución (%s)", name)
        from portal import metrics

        metrics.count_limit_hit(name)
        raise RateLimited(name, 60, storage_down=True) from None
    raise refusal


def check(name, *key):
    """RateLimited if the limit `name` is already spent for `key` (nothing is counted)."""
    item, full = rate(name), _key(name, key)
    try:
        if _strategy().test(item, *full):
            return
        refusal = _refusal(name, item, full)
    except Exception:  # noqa: BLE001
        log.warning("Almacén de límites no disponible; se rechaza por precaución (%s)", name)
        raise RateLimited(name, 60, storage_down=True) from None
    raise refusal


def used(name, *key):
    """How many attempts the limit `name` has counted for `key` in its current window (all of them
    when the storage is down: the caller then refuses, as hit() would)."""
    item, full = rate(name), _key(name, key)
    try:
        _reset, remaining = _strategy().get_window_stats(item, *full)
    except Exception:  # noqa: BLE001
        log.warning("Almacén de límites no disponible; se rechaza por precaución (%s)", name)
        return item.amount
    return item.amount - remaining


def refund(name, *key):
    """Give back one attempt hit() counted (it turned out not to count, e.g. a right password)."""
    try:
        _strategy().hit(rate(name), *_key(name, key), cost=-1)
    except Exception:  # noqa: BLE001 - the attempt stays counted: stricter, never looser
        log.warning("Almacén de límites no disponible al descontar (%s)", name)


def clear(name, *key):
    """Forget the attempts counted for `key` (e.g. failures after a successful sign-in)."""
    try:
        _strategy().clear(rate(name), *_key(name, key))
    except Exception:  # noqa: BLE001
        log.warning("Almacén de límites no disponible al limpiar (%s)", name)
