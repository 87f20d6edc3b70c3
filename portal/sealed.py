"""Secrets kept encrypted at rest, as the TOTP secrets are (portal/auth/totp.py): a system's CDA and
the code of a prepaid key nobody has confirmed yet. A copy of the database (a backup, a dump) gives
neither; a lookup by such a secret goes through its keyed digest, never its clear text.

Both are keyed by DATA_KEY (default: derived from SECRET_KEY). Changing it makes every stored CDA
unreadable and every unconfirmed key unfindable: `flask portal` has no command for that rotation,
so DATA_KEY is set once, apart from SECRET_KEY when SECRET_KEY may rotate.
"""
import base64
import hashlib
import hmac
import logging

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

log = logging.getLogger("portal.sealed")


def data_key(config=None):
    """The key material: DATA_KEY, or SECRET_KEY when it is unset."""
    config = current_app.config if config is None else config
    return config.get("DATA_KEY") or config["SECRET_KEY"]


def _fernet(purpose, key):
    derived = hashlib.sha256(f"portal.sealed.{purpose}\x1f".encode() + key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(purpose, text, key=None):
    """`text` encrypted for `purpose` (a different key per purpose)."""
    return _fernet(purpose, key or data_key()).encrypt(text.encode()).decode()


def unseal(purpose, token, key=None):
    """The clear text; None if it was sealed under another key (it cannot be read any more)."""
    try:
        return _fernet(purpose, key or data_key()).decrypt(token.encode()).decode()
    except InvalidToken:
        log.warning("Un dato cifrado (%s) no se puede descifrar con la DATA_KEY actual", purpose)
        return None


def digest(purpose, text, key=None):
    """A keyed digest of `text` for exact lookups (HMAC-SHA256, hex): equal texts, equal digests."""
    derived = hashlib.sha256(f"portal.digest.{purpose}\x1f".encode() + (key or data_key()).encode()).digest()
    return hmac.new(derived, text.encode(), hashlib.sha256).hexdigest()


class Sealed(TypeDecorator):
    """A text column stored encrypted for `purpose`: the model reads and writes it in clear.

    `plain_length`: the most characters the clear text may have (the API's schemas say it)."""

    impl = Text
    cache_ok = True

    def __init__(self, purpose, plain_length):
        super().__init__()
        self.purpose, self.plain_length = purpose, plain_length

    def process_bind_param(self, value, dialect):
        return None if value is None else seal(self.purpose, value)

    def process_result_value(self, value, dialect):
        return None if value is None else unseal(self.purpose, value)
