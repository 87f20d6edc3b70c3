"""TOTP (RFC 6238) secrets: made, encrypted at rest, shown for enrolment, and codes checked.

The secret is encrypted with Fernet under a key derived from SECRET_KEY, so a copy of the
database (a backup, a dump) cannot produce codes. Rotating SECRET_KEY therefore means every user
enrols again (their recovery codes still let them in to do it).
"""
import base64
import hashlib
import hmac

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

from portal import clock

PERIOD = 30          # seconds a code lives (RFC 6238's default, what every authenticator app uses)
DRIFT_STEPS = 1      # a code from the step before or after still counts: phones' clocks drift


def new_secret():
    """A random base32 secret of 160 bits (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def _fernet():
    key = hashlib.sha256(b"portal.two-factor\x1f" + current_app.config["SECRET_KEY"].encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret):
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token):
    """The secret; ValueError if it was encrypted under another SECRET_KEY."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("secret encrypted with another key") from None


def grouped(secret):
    """The secret in groups of four, as a person types it into an app (w3m, lynx users)."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(secret, account, issuer):
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, interval=PERIOD).provisioning_uri(name=account, issuer_name=issuer)


def qr_data_uri(uri):
    """The QR code of `uri` as an SVG data: URI for an <img> (segno writes attributes, no style)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=4, dark="#000", light="#fff")


def matching_step(secret, code, last_step=None, now=None):
    """The time step `code` belongs to (now, or one step either side), or None. A step at or before
    `last_step` was already used: refused, so a code seen over a shoulder cannot be replayed."""
    totp = pyotp.TOTP(secret, interval=PERIOD)
    current = int((now if now is not None else clock.timestamp()) // PERIOD)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.at(step * PERIOD), code):
            return step
    return None
