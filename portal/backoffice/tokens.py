"""API tokens: a random secret shown once, stored only as its SHA-256, with scopes and revocation."""
import hashlib
import hmac
import re
import secrets

from sqlalchemy import select

from portal.extensions import db
from portal.models import ApiToken
from portal import clock
from portal.models.api_tokens import API_SCOPES

PREFIX = "esk_"  # recognisable in a leaked-secret scan
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


class TokenRefused(ValueError):
    """The token cannot be created or revoked; the message says why, in Spanish."""


def digest(secret):
    """The stored form of a token: hex SHA-256 (the secret is random, so no salt or stretching is needed)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(name, scopes):
    """A new token for `name` with `scopes`; returns (ApiToken, secret). Only the hash is stored."""
    name = (name or "").strip().lower()
    if not NAME.match(name):
        raise TokenRefused("El nombre admite minúsculas, dígitos, punto, guion y guion bajo (hasta 80).")
    wanted = [scope.strip() for scope in scopes if scope.strip()]
    unknown = [scope for scope in wanted if scope not in API_SCOPES]
    if unknown or not wanted:
        raise TokenRefused("Alcances no válidos: " + (", ".join(unknown) or "ninguno") +
                           ". Usa: " + ", ".join(API_SCOPES) + ".")
    if db.session.scalar(select(ApiToken.id).where(ApiToken.name == name)):
        raise TokenRefused(f"Ya existe un token llamado «{name}».")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, token_hash=digest(secret), scopes=",".join(dict.fromkeys(wanted)))
    db.session.add(token)
    return token, secret


def find_token(secret):
    """The live token whose secret this is, or None (unknown and revoked look the same)."""
    if not secret or len(secret) > 200:
        return None
    wanted = digest(secret)
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == wanted))
    if token is None or token.revoked_at is not None or not hmac.compare_digest(token.token_hash, wanted):
        return None
    return token


def list_tokens():
    """Every token, newest first (hashes are never shown)."""
    return db.session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())).all()


def revoke_token(name):
    """Revoke the token called `name`; returns False if it was already revoked."""
    token = db.session.scalar(select(ApiToken).where(ApiToken.name == (name or "").strip().lower()))
    if token is None:
        raise TokenRefused(f"No existe un token llamado «{name}».")
    if token.revoked_at is not None:
        return False
    token.revoked_at = clock.now()
    return True
