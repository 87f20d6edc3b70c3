"""The rules of single sign-on, apart from HTTP: the ID token's verification with tokens signed here
(another key, another issuer or audience, expired, `alg: none`...), who gets in, and the settings."""
import base64
import json

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey
from sqlalchemy import select

from portal import clock, create_app
from portal.auth import oidc, sso
from portal.config import ConfigError, parse_desk_groups
from portal.extensions import db
from portal.models import Membership, SsoIdentity, User
from tests import factories
from tests.oidc_helpers import new_key

ISSUER = "https://login.empresa.example"
CLIENT = "portal"


@pytest.fixture(scope="module")
def signing_key():
    return new_key("llave-1")


def claims(**changes):
    now = int(clock.timestamp())
    base = {"iss": ISSUER, "aud": CLIENT, "sub": "u-1", "exp": now + 300, "iat": now, "nonce": "n-1",
            "email": "ana@empresa.example", "email_verified": True}
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def sign(payload, key, alg="RS256"):
    return jwt.encode({"alg": alg, "kid": key.kid}, payload, key)


def published(*keys):
    """keys(refresh) as verify_id_token takes it, counting the fetches."""
    fetches = []

    def _keys(refresh):
        fetches.append(refresh)
        return KeySet.import_key_set({"keys": [key.as_dict(private=False) for key in keys]})

    _keys.fetches = fetches
    return _keys


def verify(token, keys, nonce="n-1"):
    return oidc.verify_id_token(token, keys=keys, issuer=ISSUER, client_id=CLIENT, nonce=nonce, now=clock.timestamp())


def test_a_token_signed_by_the_issuers_key_for_this_client_is_accepted(signing_key):
    keys = published(signing_key)
    assert verify(sign(claims(), signing_key), keys)["sub"] == "u-1"
    assert keys.fetches == [False]


@pytest.mark.parametrize("changes, message", [
    ({"iss": "https://otro.example"}, "otro proveedor"),
    ({"aud": "otra-aplicacion"}, "otra aplicación"),
    ({"aud": ["otra-aplicacion", CLIENT]}, "otra aplicación"),  # several audiences without azp = us
    ({"exp": -120}, "venció"),
    ({"exp": None}, "venció"),
    ({"iat": 10**10}, "fecha futura"),
    ({"nonce": "otro"}, "no corresponde"),
    ({"nonce": None}, "no corresponde"),
    ({"sub": None}, "no identifica"),
], ids=["issuer", "audience", "audiences", "expired", "no-exp", "future", "nonce", "no-nonce", "no-sub"])
def test_a_token_with_wrong_claims_is_refused(signing_key, changes, message):
    if changes.get("exp") == -120:
        changes = {"exp": int(clock.timestamp()) - oidc.CLOCK_SKEW - 5}
    with pytest.raises(oidc.BadToken, match=message):
        verify(sign(claims(**changes), signing_key), published(signing_key))


def test_expiry_allows_a_small_skew(signing_key):
    token = sign(claims(exp=int(clock.timestamp()) - oidc.CLOCK_SKEW + 5), signing_key)
    assert verify(token, published(signing_key))["sub"] == "u-1"


def test_a_token_signed_with_another_key_under_a_published_kid_is_refused(signing_key):
    impostor = new_key(signing_key.kid)
    with pytest.raises(oidc.BadToken, match="firma"):
        verify(sign(claims(), impostor), published(signing_key))


def test_an_unknown_kid_makes_the_keys_fetched_again_once(signing_key):
    rotated = new_key("llave-2")
    stale = published(signing_key)
    with pytest.raises(oidc.BadToken, match="llave que el proveedor no publica"):
        verify(sign(claims(), rotated), stale)
    assert stale.fetches == [False, True]

    calls = []

    def rotating(refresh):  # the cached set is old; a fresh fetch has the new key
        calls.append(refresh)
        return published(rotated if refresh else signing_key)(refresh)

    assert verify(sign(claims(), rotated), rotating)["sub"] == "u-1"
    assert calls == [False, True]


def _unsigned(header, payload):
    part = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part(header)}.{part(payload)}."


def test_alg_none_and_shared_secret_signatures_are_refused(signing_key):
    with pytest.raises(oidc.BadToken, match="firma admitida"):
        verify(_unsigned({"alg": "none", "kid": signing_key.kid}, claims()), published(signing_key))
    secret = OctKey.import_key("el-secreto-del-cliente-compartido-32b", {"kid": signing_key.kid})
    with pytest.raises(oidc.BadToken, match="firma admitida"):
        verify(jwt.encode({"alg": "HS256", "kid": signing_key.kid}, claims(), secret), published(signing_key))
    with pytest.raises(oidc.BadToken, match="ilegible"):
        verify("no.es-un.token", published(signing_key))


def test_second_factor_is_read_from_amr():
    identity = oidc.identity_of(ISSUER, {"sub": "x", "amr": ["pwd", "otp"]})
    assert identity.second_factor
    assert not oidc.identity_of(ISSUER, {"sub": "x", "amr": ["pwd"]}).second_factor
    # userinfo completes the token only for the same subject
    assert oidc.identity_of(ISSUER, {"sub": "x"}, {"sub": "y", "email": "a@b.c"}).email is None
    assert oidc.identity_of(ISSUER, {"sub": "x"}, {"sub": "x", "email": "A@B.c", "email_verified": True}).email == "a@b.c"


# --- who gets in ----------------------------------------------------------------------------------

def identity(subject="u-1", email="ana@empresa.example", verified=True, groups=(), issuer=ISSUER):
    return oidc.Identity(issuer, subject, email, verified, "Ana Pérez", tuple(groups), ("pwd",))


def sign_in(ident, **options):
    settings = {"link_by_email": True, "auto_create": False, "desk_groups": [], "now": clock.now()}
    settings.update(options)
    return sso.account_for(ident, **settings)


def test_a_verified_email_links_and_the_link_outlives_an_email_change(app):
    ana = factories.user(email="ana@empresa.example")
    assert sign_in(identity())[0].id == ana.id
    db.session.commit()
    assert sign_in(identity(email="ana.perez@empresa.example"))[0].id == ana.id


def test_linking_an_account_nobody_verified_takes_its_password_and_sessions(app):
    """Someone may have made an account with another person's address ahead of them: once the
    provider vouches for the owner, that account's password and sessions are gone."""
    from portal.auth import sessions
    from portal.models import UserSession

    squatted = factories.user(email="ana@empresa.example", verified=False)
    sessions.start(squatted)
    db.session.commit()
    user, _link = sign_in(identity())
    db.session.commit()
    assert user.id == squatted.id and user.password_hash is None and user.email_verified
    assert db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)).all() == []


@pytest.mark.parametrize("ident, options, message", [
    (identity(verified=False), {}, "no ha verificado"),
    (identity(email=None), {}, "no comparte tu correo"),
    (identity(), {"link_by_email": False}, "no tiene acceso"),
    (identity(email="otra@empresa.example"), {}, "no tiene acceso"),
    (identity(), {"domains": ["otra.example"]}, "no responde por el correo"),
], ids=["unverified", "no-email", "linking-off", "unknown", "other-domain"])
def test_identities_refused_change_nothing(app, ident, options, message):
    factories.user(email="ana@empresa.example")
    with pytest.raises(sso.Refused, match=message):
        sign_in(ident, **options)
    db.session.rollback()
    assert db.session.scalars(select(SsoIdentity)).all() == []
    assert db.session.scalar(select(User).where(User.email == "otra@empresa.example")) is None


def test_an_account_linked_to_another_identity_of_the_issuer_is_refused(app):
    factories.user(email="ana@empresa.example")
    sign_in(identity(subject="u-1"))
    db.session.commit()
    with pytest.raises(sso.Refused, match="ya está vinculada"):
        sign_in(identity(subject="u-2"))


def test_auto_create_puts_the_account_in_desks_by_its_groups_at_every_sign_in(app):
    ventas, compras = factories.desk(), factories.desk()
    groups = parse_desk_groups(f"ventas={ventas.rfc}:owner, todos={ventas.rfc}:member, compras={compras.rfc}:member")
    user, link = sign_in(identity(email="nuevo@empresa.example", groups=["todos", "compras"]),
                         auto_create=True, desk_groups=groups)
    db.session.commit()
    assert (user.name, user.email_verified, user.password_hash, link.created_account) == ("Ana Pérez", True, None, True)

    def roles():
        return dict(db.session.execute(select(Membership.desk_id, Membership.role).where(Membership.user_id == user.id)).all())

    assert roles() == {ventas.id: "member", compras.id: "member"}
    sign_in(identity(email="nuevo@empresa.example", groups=["ventas"]), auto_create=True, desk_groups=groups)
    db.session.commit()
    assert roles() == {ventas.id: "owner"}


def test_desk_groups_setting_is_checked():
    assert parse_desk_groups(" a=XAXX010101AB1:owner ,b=xaxx010101ab1:Member") == [
        ("a", "XAXX010101AB1", "owner"), ("b", "XAXX010101AB1", "member")]
    for bad in ("a=RFC", "a=RFC:jefe", "=RFC:owner", "a"):
        with pytest.raises(ValueError):
            parse_desk_groups(bad)


@pytest.mark.parametrize("settings, message", [
    ({"OIDC_ISSUER": "https://login.example"}, "OIDC_CLIENT_ID"),
    ({"OIDC_ISSUER": "login.example", "OIDC_CLIENT_ID": "a", "OIDC_CLIENT_SECRET": "b"}, "OIDC_ISSUER"),
    ({"OIDC_ISSUER": "http://login.example", "OIDC_CLIENT_ID": "a", "OIDC_CLIENT_SECRET": "b",
      "PORTAL_ENV": "production", "PORTAL_URL": "https://portal.example", "TRUSTED_HOSTS": ["portal.example"]}, "HTTPS"),
    ({"OIDC_ISSUER": "https://login.example", "OIDC_CLIENT_ID": "a", "OIDC_CLIENT_SECRET": "b",
      "SESSION_COOKIE_SAMESITE": "Strict"}, "Lax"),
    ({"OIDC_SCOPES": "email"}, "openid"),
    ({"OIDC_DESK_GROUPS": "ventas=RFC:jefe"}, "OIDC_DESK_GROUPS"),
    ({"AUTH_PROXY_HEADER": "X-Remote-Email"}, "AUTH_PROXY_ADDRESSES"),
    ({"AUTH_PROXY_ADDRESSES": "127.0.0.1"}, "AUTH_PROXY_HEADER"),
    ({"AUTH_PROXY_HEADER": "X-Remote-Email", "AUTH_PROXY_ADDRESSES": "0.0.0.0/0"}, "cualquier"),
    ({"AUTH_PROXY_HEADER": "X-Remote-Email", "AUTH_PROXY_ADDRESSES": "*"}, "no es una dirección"),
], ids=["no-client", "issuer", "production-http", "strict-cookie", "scopes", "groups", "proxy-no-addresses", "addresses-no-header", "everyone", "wildcard"])
def test_incomplete_or_unsafe_settings_stop_the_start(tmp_path, settings, message):
    with pytest.raises(ConfigError, match=message):
        create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db", **settings})


def test_only_http_addresses_are_fetched(tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text('{"keys": []}')
    with pytest.raises(oidc.ProviderUnavailable):
        oidc.key_set(secret.as_uri(), timeout=1)
