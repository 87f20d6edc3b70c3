"""The state between activation steps: a signed, expiring token, never trusted hidden fields.

The token names the desk, the user and the validated codes; a token made for another desk or user,
altered, or older than STEP_MAX_AGE is refused, so step 2 can only confirm what step 1 validated
for this very person and desk.
"""
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from portal import key_codes

SALT = "prepaid-step"
STEP_MAX_AGE = 15 * 60


class StepTokenError(Exception):
    message = "La solicitud de confirmación no es válida. Captura la clave de nuevo."


class StepTokenExpired(StepTokenError):
    message = "La solicitud de confirmación expiró. Captura la clave de nuevo."


def _serializer():
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def make_step_token(desk, user, step_codes):
    """A token carrying `step_codes` for this desk and user."""
    return _serializer().dumps({"d": desk.id, "u": user.id, "c": list(step_codes)})


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
