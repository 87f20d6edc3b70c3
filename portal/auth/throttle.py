"""The accounts' rate limits, on portal.limits (shared by every process when it is Redis).

Sign-in counts failures only, per account and per address, and checks before trying the password:
once over the limit even the right password waits, or the limit would not stop a guesser.
Actions that send e-mail count every request, so nobody can flood a mailbox through the portal.
When the storage is down every limit refuses (fail closed, 429) and says the service is unavailable.
"""
from portal import limits

SIGN_IN_ACCOUNT = "5/15 minutes"
SIGN_IN_IP = "20/15 minutes"
SEND_PER_ADDRESS = "3/hour"        # registration / reset / change e-mails to one address
SEND_PER_IP = "10/hour"
SEND_PER_USER = "3/hour"           # verification resends, e-mail changes
PASSWORD_CHECKS = "5/15 minutes"   # wrong current password in Mi perfil, per user

UNAVAILABLE = ("No podemos procesar tu solicitud en este momento por una falla temporal. "
               "Inténtalo de nuevo en unos minutos.")


class Throttled(Exception):
    """Over a limit, or the limits' storage is down; the message is for the user.

    Both answer 429 with Retry-After, as every limit in the portal does: the refusal is designed,
    not a server error, and a proxy that replaces 5xx pages would hide its message.
    """

    status = 429

    def __init__(self, verdict):
        self.verdict = verdict
        if verdict.storage_down:
            message = UNAVAILABLE
        else:
            unit = "minuto" if verdict.minutes == 1 else "minutos"
            message = f"Demasiados intentos. Inténtalo de nuevo en {verdict.minutes} {unit}."
        super().__init__(message)


def _key(email):
    return (email or "").strip().lower()


def check_sign_in(ip, email):
    """Raise Throttled if this address or this account has failed too often lately."""
    for rate, key in ((SIGN_IN_IP, ("sign-in-ip", ip or "?")), (SIGN_IN_ACCOUNT, ("sign-in-account", _key(email)))):
        verdict = limits.test(rate, *key)
        if not verdict.allowed:
            raise Throttled(verdict)


def count_failed_sign_in(ip, email):
    """One more failure for the address and the account."""
    limits.hit(SIGN_IN_IP, "sign-in-ip", ip or "?")
    limits.hit(SIGN_IN_ACCOUNT, "sign-in-account", _key(email))


def forget_failed_sign_ins(email):
    """The account signed in: its failures no longer count (the address's still do)."""
    limits.clear(SIGN_IN_ACCOUNT, "sign-in-account", _key(email))


def spend(action, ip=None, email=None, user=None):
    """Count one e-mail-sending `action`; raise Throttled when an address, IP or user is over."""
    rules = []
    if ip is not None:
        rules.append((SEND_PER_IP, (action, "ip", ip)))
    if email is not None:
        rules.append((SEND_PER_ADDRESS, (action, "email", _key(email))))
    if user is not None:
        rules.append((SEND_PER_USER, (action, "user", str(getattr(user, "id", user)))))
    for rate, key in rules:
        verdict = limits.hit(rate, *key)
        if not verdict.allowed:
            raise Throttled(verdict)


def check_password_attempt(user):
    """Raise Throttled when the user got their current password wrong too often lately."""
    verdict = limits.test(PASSWORD_CHECKS, "password-check", str(user.id))
    if not verdict.allowed:
        raise Throttled(verdict)


def count_wrong_password(user):
    limits.hit(PASSWORD_CHECKS, "password-check", str(user.id))
