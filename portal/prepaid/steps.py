"""The state between activation steps: what was validated, and how Confirmar knows what it confirms.

Two pieces, each with one job:
- The step token (a signed, expiring value in step 2's form, never trusted hidden fields) names
  the desk, the user and the validated codes; a token made for another desk or user, altered, or
  older than STEP_MAX_AGE is refused, so Confirmar only confirms what step 1 validated for this
  very person and desk, and what the page showed.
- The held step (in Flask's session: signed, in this browser only) lets step 2 be a page of its
  own that Validar redirects to (post/redirect/get), so Back and reload never send a form again.
  It holds the ids of the valid keys, never their codes (a session cookie is not the place for a
  code that can still be confirmed), and it expires with the token. A refused POST without JS
  also redirects: its result waits in the session for the one page that shows it, once.
"""
from flask import current_app, session
from itsdangerous import BadSignature, SignatureExpired

from portal import clock, key_codes
from portal.signing import timed_serializer

SALT = "prepaid-step"
STEP_MAX_AGE = 15 * 60
HELD = "prepaid_step"
REFUSED = "prepaid_refused"


class StepTokenError(Exception):
    message = "La solicitud de confirmación no es válida. Captura la clave de nuevo."


class StepTokenExpired(StepTokenError):
    message = "La solicitud de confirmación expiró. Captura la clave de nuevo."


class NoHeldStep(StepTokenError):
    message = "No hay claves validadas por confirmar en este escritorio. Captura la clave de nuevo."


class StepConfirmed(NoHeldStep):
    message = "Esas claves ya se confirmaron: las encuentras en Claves prepago."


def _serializer(issued_at=None):
    return timed_serializer(current_app.config["SECRET_KEY"], SALT, issued_at)


def make_step_token(desk, user, step_codes, issued_at=None):
    """A token carrying `step_codes` for this desk and user; `issued_at` (seconds since the epoch):
    when the codes were validated, so showing step 2 again does not make it last longer."""
    return _serializer(issued_at).dumps({"d": desk.id, "u": user.id, "c": list(step_codes)})


def read_step_token(token, desk, user, max_age=STEP_MAX_AGE):
    """The codes the token carries, if it is genuine, fresh and made for this desk and user."""
    if not token or not isinstance(token, str) or len(token) > 4000:
        raise StepTokenError()
    try:
        payload = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise StepTokenExpired() from None
    except BadSignature:
        raise StepTokenError() from None
    if not isinstance(payload, dict) or payload.get("d") != desk.id or payload.get("u") != user.id:
        raise StepTokenError()
    step_codes = payload.get("c")
    if not isinstance(step_codes, list) or not step_codes:
        raise StepTokenError()
    try:
        return [key_codes.normalise(code) for code in step_codes]
    except (ValueError, TypeError):
        raise StepTokenError() from None


# --- the held step --------------------------------------------------------------------------------

def hold(desk, user, key_ids, lines):
    """Remember that `user` validated the keys `key_ids` in `desk` now, and what step 2 shows of
    them and of the other keys typed (`lines`, plain values without a valid key's code)."""
    session[HELD] = {"d": desk.id, "u": user.id, "at": int(clock.timestamp()), "keys": list(key_ids), "lines": lines}


def held(desk, user, max_age=STEP_MAX_AGE):
    """The step this browser validated for this desk and user: {"at", "keys", "lines"}, or the
    reason there is none to show (NoHeldStep, StepConfirmed, StepTokenExpired)."""
    step = session.get(HELD)
    if not isinstance(step, dict) or step.get("d") != desk.id or step.get("u") != user.id:
        raise NoHeldStep()
    if step.get("confirmed"):
        raise StepConfirmed()
    if not isinstance(step.get("at"), int) or not step.get("keys") or not isinstance(step.get("lines"), list):
        raise NoHeldStep()
    if step["at"] + max_age < clock.timestamp():
        raise StepTokenExpired()
    return step


def close(desk, user, key_ids, confirmed):
    """After Confirmar went through `key_ids`: the held step is over if those were its valid keys.
    Step 2's page then says they were confirmed (`confirmed`: some now in this desk) instead of
    offering them again, or that there is nothing left to confirm."""
    step = session.get(HELD)
    if not isinstance(step, dict) or step.get("d") != desk.id or step.get("u") != user.id:
        return
    if step.get("keys") and set(step["keys"]) <= set(key_ids):
        if confirmed:
            session[HELD] = {"d": desk.id, "u": user.id, "confirmed": True}
        else:
            drop()


def drop():
    session.pop(HELD, None)


# --- a refused POST without JS, for the page it redirects to ---------------------------------------

def keep_refusal(desk, user, page, **values):
    """Keep what a refused POST would have shown (plain values) for the next GET of `page`."""
    session[REFUSED] = {"d": desk.id, "u": user.id, "page": page, **values}


def take_refusal(desk, user, *pages):
    """The refusal kept in this desk for one of `pages`, once; None if there is none."""
    refusal = session.get(REFUSED)
    if not isinstance(refusal, dict) or refusal.get("page") not in pages:
        return None
    session.pop(REFUSED)
    return refusal if (refusal.get("d"), refusal.get("u")) == (desk.id, user.id) else None
