"""OpenID Connect sign-in (Authorization Code with PKCE S256, `state` and `nonce`), apart from Flask.

The provider's discovery document and keys are fetched with a timeout and kept a while; an ID
token signed with a key id the portal does not know makes it fetch the keys again once (the
provider rotated them). The ID token is verified here: signature by the issuer's keys (never
`alg: none`, never a shared-secret algorithm), issuer, audience, expiry with a small skew, nonce.

Nothing of a token is logged or shown: errors name what was wrong, never the token.
"""
import base64
import hashlib
import hmac
import json
import logging
import secrets
import urllib.error
import urllib.parse
import urllib.request
from typing import NamedTuple

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from portal import clock

log = logging.getLogger("portal.sso")

# Public-key signatures only: `none` and the HS* family (keyed with the client secret) are refused.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
# How far the provider's clock may run from the portal's (seconds).
CLOCK_SKEW = 60
# A discovery document or key set is fetched again after this long.
CACHE_SECONDS = 3600
# `amr` values that name a second factor (RFC 8176).
SECOND_FACTORS = frozenset({"mfa", "otp", "hwk", "swk"})


class ProviderUnavailable(Exception):
    """The provider did not answer (down, slow, or not an OpenID Provider)."""


class ProviderRefused(Exception):
    """The provider answered the code exchange with an error (a code used twice, expired...)."""


class BadToken(Exception):
    """The ID token is not one the portal may trust; the message says why, in Spanish."""


class Provider(NamedTuple):
    """An OpenID Provider the portal signs in with: the deployment's or a desk's (desk_id)."""
    issuer: str
    client_id: str
    client_secret: str
    scopes: str = "openid email profile"
    desk_id: int | None = None


class Identity(NamedTuple):
    """Who the provider says signed in."""
    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    groups: tuple
    amr: tuple

    @property
    def second_factor(self):
        """The provider checked a second factor (its `amr` names one)."""
        return bool(SECOND_FACTORS.intersection(self.amr))


# --- HTTP, with a timeout -------------------------------------------------------------------------

def _fetch_json(url, *, timeout, data=None, headers=None):
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        # A discovery document naming file:// or another scheme: never opened.
        raise ProviderUnavailable("dirección no http(s)")
    request = urllib.request.Request(url, data=data, headers={"Accept": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (the issuer's https/http URL)
            return json.loads(answer.read(1024 * 1024))
    except urllib.error.HTTPError as error:
        try:
            body = json.loads(error.read(64 * 1024))
        except ValueError:
            body = {}
        raise ProviderRefused(str(body.get("error") or error.code)) from None
    except (OSError, ValueError) as error:  # refused, unreachable, timed out, not JSON
        raise ProviderUnavailable(type(error).__name__) from None


_discovery = {}   # issuer -> (document, fetched at)
_keys = {}        # jwks_uri -> (KeySet, fetched at)


def discover(issuer, *, timeout):
    """The issuer's discovery document (cached); ProviderUnavailable if it cannot be had."""
    cached = _discovery.get(issuer)
    if cached and clock.timestamp() - cached[1] < CACHE_SECONDS:
        return cached[0]
    try:
        document = _fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=timeout)
    except ProviderRefused as refused:
        raise ProviderUnavailable(str(refused)) from None
    needed = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
    if not isinstance(document, dict) or any(not isinstance(document.get(name), str) for name in needed):
        raise ProviderUnavailable("discovery incompleto")
    if document["issuer"] != issuer:
        raise ProviderUnavailable("el documento nombra otro emisor")
    _discovery[issuer] = (document, clock.timestamp())
    return document


def key_set(jwks_uri, *, timeout, refresh=False):
    """The provider's public keys (cached; `refresh` fetches them again)."""
    cached = _keys.get(jwks_uri)
    if cached and not refresh and clock.timestamp() - cached[1] < CACHE_SECONDS:
        return cached[0]
    try:
        keys = KeySet.import_key_set(_fetch_json(jwks_uri, timeout=timeout))
    except ProviderRefused as refused:
        raise ProviderUnavailable(str(refused)) from None
    except (JoseError, ValueError, TypeError, KeyError):
        raise ProviderUnavailable("llaves no válidas") from None
    _keys[jwks_uri] = (keys, clock.timestamp())
    return keys


def forget_cache():
    """Drop every cached document and key set (tests; a provider reconfigured)."""
    _discovery.clear()
    _keys.clear()


# --- the authorization request -------------------------------------------------------------------

def _s256(verifier):
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def begin(provider, document, redirect_uri, login_hint=None):
    """(URL to send the browser to, the secrets to keep in this browser until the return).
    `login_hint`: the e-mail the user already typed, for the provider's form."""
    flow = {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24),
            "verifier": secrets.token_urlsafe(48)}
    params = {
        "response_type": "code", "client_id": provider.client_id, "redirect_uri": redirect_uri,
        "scope": provider.scopes, "state": flow["state"], "nonce": flow["nonce"],
        "code_challenge": _s256(flow["verifier"]), "code_challenge_method": "S256",
    }
    if login_hint:
        params["login_hint"] = login_hint
    query = urllib.parse.urlencode(params)
    endpoint = document["authorization_endpoint"]
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", flow


def state_matches(flow, state):
    return bool(flow and state) and hmac.compare_digest(str(flow.get("state", "")), str(state))


def exchange(provider, document, code, verifier, redirect_uri, *, timeout):
    """The token response for `code` (client_secret_basic); ProviderRefused or ProviderUnavailable."""
    credentials = f"{urllib.parse.quote(provider.client_id, safe='')}:{urllib.parse.quote(provider.client_secret, safe='')}"
    body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                                   "code_verifier": verifier}).encode()
    answer = _fetch_json(document["token_endpoint"], timeout=timeout, data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()})
    if not isinstance(answer, dict) or not isinstance(answer.get("id_token"), str):
        raise ProviderRefused("sin id_token")
    return answer


def userinfo(document, access_token, *, timeout):
    """The userinfo claims, or {} when the provider has no such endpoint or refuses."""
    endpoint = document.get("userinfo_endpoint")
    if not endpoint or not access_token:
        return {}
    try:
        answer = _fetch_json(endpoint, timeout=timeout, headers={"Authorization": f"Bearer {access_token}"})
    except ProviderRefused:
        return {}
    return answer if isinstance(answer, dict) else {}


# --- the ID token --------------------------------------------------------------------------------

def verify_id_token(id_token, *, keys, issuer, client_id, nonce, now):
    """The ID token's claims once verified; BadToken saying why otherwise.

    `keys(refresh)`: the issuer's KeySet (refresh=True fetches it again: a key id not in the cached
    set may be a rotated key). `now`: epoch seconds from the portal's clock.
    """
    try:
        header = jws.extract_compact(id_token.encode()).protected
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise BadToken("El proveedor entregó un token ilegible.") from None
    algorithm = header.get("alg")
    if algorithm not in SIGNING_ALGORITHMS:
        raise BadToken("El token del proveedor no trae una firma admitida.")
    kid = header.get("kid")
    key_set_now = keys(False)
    if not _has_key(key_set_now, kid):
        key_set_now = keys(True)
        if not _has_key(key_set_now, kid):
            raise BadToken("El token del proveedor está firmado con una llave que el proveedor no publica.")
    try:
        token = jwt.decode(id_token, key_set_now, algorithms=[algorithm])
    except JoseError:
        raise BadToken("La firma del token del proveedor no es válida.") from None
    claims = token.claims
    if claims.get("iss") != issuer:
        raise BadToken("El token viene de otro proveedor.")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client_id not in audiences or (len(audiences) > 1 and claims.get("azp") != client_id):
        raise BadToken("El token del proveedor es para otra aplicación.")
    expires = claims.get("exp")
    if not isinstance(expires, (int, float)) or now > expires + CLOCK_SKEW:
        raise BadToken("El token del proveedor ya venció.")
    issued = claims.get("iat")
    if isinstance(issued, (int, float)) and issued > now + CLOCK_SKEW:
        raise BadToken("El token del proveedor tiene una fecha futura.")
    if not nonce or not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise BadToken("El token del proveedor no corresponde a este inicio de sesión.")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise BadToken("El token del proveedor no identifica a nadie.")
    return claims


def _has_key(keys, kid):
    if kid is None:
        return bool(keys.keys)
    try:
        keys.get_by_kid(kid)
    except (ValueError, KeyError, JoseError):
        return False
    return True


def identity_of(issuer, claims, extra=None):
    """The Identity in the ID token's claims, completed by userinfo's (`extra`, same `sub` only)."""
    extra = extra if isinstance(extra, dict) and extra.get("sub") == claims["sub"] else {}

    def claim(name):
        return claims[name] if name in claims else extra.get(name)

    email = claim("email")
    verified = claim("email_verified")
    groups = claim("groups") or ()
    amr = claims.get("amr") or ()
    return Identity(
        issuer=issuer, subject=claims["sub"],
        email=email.strip().lower() if isinstance(email, str) and "@" in email else None,
        email_verified=verified is True or verified == "true",
        name=claim("name") if isinstance(claim("name"), str) else None,
        groups=tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, (list, tuple)) else (),
        amr=tuple(a for a in amr if isinstance(a, str)) if isinstance(amr, (list, tuple)) else (),
    )


def end_session_url(document, client_id, return_to):
    """The provider's sign-out address coming back to `return_to`, or None if it has none."""
    endpoint = document.get("end_session_endpoint")
    if not isinstance(endpoint, str):
        return None
    query = urllib.parse.urlencode({"client_id": client_id, "post_logout_redirect_uri": return_to})
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
