"""Two-factor sign-in rules, apart from HTTP: enrol, check a code, recovery codes, turn off.

A user has two-factor sign-in once a TwoFactorCredential of theirs is confirmed (by a first right
code). Until then the credential is a pending enrolment: its secret is shown on the enrolment page
and nowhere else, and never again after confirmation. Recovery codes are kept as SHA-256 digests
(random codes of 60 bits, like API tokens: no slow hash needed) and each works once.
The caller commits, records audit events and sends the e-mails.
"""
import hashlib
import re
import secrets

from sqlalchemy import delete, exists, or_, select, update

from portal.auth import sessions, totp
from portal.auth.passwords import password_matches
from portal.extensions import db
from portal.models import Desk, Membership, RecoveryCode, TwoFactorCredential
from portal import clock

RECOVERY_CODES = 10
# No 0/O, 1/I/L: a code copied from paper is read back right.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_RECOVERY_LENGTH = 12
_TOTP_CODE = re.compile(r"^[0-9]{6}$")


class WrongCode(Exception):
    def __init__(self):
        super().__init__("El código de verificación no es correcto o ya se usó.")


class WrongPassword(Exception):
    def __init__(self):
        super().__init__("La contraseña actual no es correcta.")


class NoEnrolment(Exception):
    def __init__(self):
        super().__init__("Primero genera el código QR para tu aplicación de autenticación.")


class RequiredByDesk(Exception):
    def __init__(self, desk):
        super().__init__(f"El escritorio {desk.razon_social} exige la verificación en dos pasos: "
                         "no puedes desactivarla mientras pertenezcas a él.")


def credential_of(user):
    """The user's credential (confirmed or pending), or None."""
    return db.session.get(TwoFactorCredential, user.id)


def is_enabled(user):
    """Whether signing in as `user` asks for a code."""
    return bool(db.session.scalar(select(exists().where(
        TwoFactorCredential.user_id == user.id, TwoFactorCredential.confirmed_at.is_not(None)))))


def start_enrolment(user):
    """A new pending secret for `user` (replacing an unconfirmed one); returns it for the page."""
    credential = credential_of(user)
    if credential is not None and credential.confirmed_at is not None:
        raise ValueError("two-factor sign-in is already on")
    secret = totp.new_secret()
    if credential is None:
        db.session.add(TwoFactorCredential(user_id=user.id, secret_encrypted=totp.encrypt(secret)))
    else:
        credential.secret_encrypted, credential.created_at, credential.last_step = totp.encrypt(secret), clock.now(), None
    return secret


def pending_secret(user):
    """The secret of an enrolment not yet confirmed, or None (a confirmed secret is never shown)."""
    credential = credential_of(user)
    if credential is None or credential.confirmed_at is not None:
        return None
    try:
        return totp.decrypt(credential.secret_encrypted)
    except ValueError:
        return None


def confirm_enrolment(user, password, code):
    """Turn it on with the first right code (and the password); returns the new recovery codes."""
    credential = credential_of(user)
    if credential is None or credential.confirmed_at is not None:
        raise NoEnrolment()
    if not password_matches(user, password):
        raise WrongPassword()
    step = totp.matching_step(totp.decrypt(credential.secret_encrypted), _digits(code))
    if step is None:
        raise WrongCode()
    credential.confirmed_at, credential.last_step = clock.now(), step
    # Sessions opened with the password alone end: from now on a session took both steps.
    sessions.end_all(user)
    return new_recovery_codes(user)


def verify(user, code):
    """Check a code from the app or a recovery code; returns "totp" or "recovery"; WrongCode otherwise."""
    credential = credential_of(user)
    if credential is None or credential.confirmed_at is None:
        raise WrongCode()
    digits = _digits(code)
    if _TOTP_CODE.match(digits):
        step = totp.matching_step(totp.decrypt(credential.secret_encrypted), digits, credential.last_step)
        # Claimed in one statement: two requests with the same code cannot both pass.
        if step is None or not _claim_step(user, step):
            raise WrongCode()
        return "totp"
    if _use_recovery_code(user, code):
        return "recovery"
    raise WrongCode()


def new_recovery_codes(user):
    """Ten fresh recovery codes (the old ones stop working); the only time they exist in clear."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = ["".join(secrets.choice(_ALPHABET) for _ in range(_RECOVERY_LENGTH)) for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_digest(code)) for code in codes)
    return [format_recovery_code(code) for code in codes]


def regenerate_recovery_codes(user, password, code):
    """New recovery codes, with the password and a current code (or a recovery code)."""
    _check_password_and_code(user, password, code)
    return new_recovery_codes(user)


def remaining_recovery_codes(user):
    return len(db.session.scalars(select(RecoveryCode.id).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))).all())


def disable(user, password, code):
    """Turn it off, with the password and a current code (or a recovery code); returns how it was proved."""
    desk = desk_requiring(user)
    if desk is not None:
        raise RequiredByDesk(desk)
    how = _check_password_and_code(user, password, code)
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.execute(delete(TwoFactorCredential).where(TwoFactorCredential.user_id == user.id))
    return how


def desk_requiring(user):
    """One of the user's desks that requires two-factor sign-in, or None."""
    return db.session.scalar(select(Desk).join(Membership).where(
        Membership.user_id == user.id, Desk.require_two_factor.is_(True)).order_by(Desk.id).limit(1))


def prove(user, password, code):
    """The password and a current code (or a recovery code), with no other effect; how it was proved."""
    return _check_password_and_code(user, password, code)


def set_desk_requirement(desk, required):
    """Whether the desk requires two-factor sign-in of all its users; True when it changed."""
    changed = desk.require_two_factor != bool(required)
    desk.require_two_factor = bool(required)
    return changed


def format_recovery_code(code):
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def _check_password_and_code(user, password, code):
    if not password_matches(user, password):
        raise WrongPassword()
    return verify(user, code)


def _use_recovery_code(user, code):
    cleaned = re.sub(r"[\s-]", "", code or "").upper()
    if len(cleaned) != _RECOVERY_LENGTH:
        return False
    # Used up in one statement: the same code sent twice at once works only once.
    result = db.session.execute(update(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _digest(cleaned),
        RecoveryCode.used_at.is_(None)).values(used_at=clock.now()))
    return result.rowcount == 1


def _claim_step(user, step):
    result = db.session.execute(update(TwoFactorCredential).where(
        TwoFactorCredential.user_id == user.id,
        or_(TwoFactorCredential.last_step.is_(None), TwoFactorCredential.last_step < step),
    ).values(last_step=step).execution_options(synchronize_session="fetch"))
    return result.rowcount == 1


def _digits(code):
    return re.sub(r"\s", "", code or "")


def _digest(code):
    return hashlib.sha256(code.encode()).hexdigest()
