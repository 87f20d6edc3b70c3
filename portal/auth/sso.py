"""Who gets in with an OpenID Provider's identity, and which provider answers for an e-mail. Flask-free.

An identity already linked (issuer + `sub`) signs in as its account, whatever its e-mail says now.
Otherwise a verified e-mail of an existing account links it (OIDC_LINK_BY_EMAIL), never an
unverified one; an unknown identity is refused unless OIDC_AUTO_CREATE makes the account, whose
desks then follow the provider's `groups` (OIDC_DESK_GROUPS) at every sign-in. A desk's own
provider answers only for its e-mail domains: it cannot vouch for anyone else's address.
The caller commits.
"""

from sqlalchemy import delete, select

from portal.auth.oidc import Provider, ProviderUnavailable, discover
from portal.auth.oidc import end_session_url as end_session_url_of
from portal.auth.sessions import end_all
from portal.auth.signin import find_user_by_email
from portal import roles, sealed
from portal.extensions import db
from portal.models import Desk, DeskIdentityProvider, Membership, SsoIdentity, User
from portal.models.accounts import new_session_token


class Refused(Exception):
    """This identity does not get in; the message says why and what to do, in Spanish."""


UNKNOWN = ("Tu cuenta de la empresa ({email}) no tiene acceso a este portal. Pide a quien administra el "
           "escritorio de tu empresa (en Usuarios) que te dé de alta con ese correo, o comunícate con soporte.")


def email_domain(email):
    return (email or "").rpartition("@")[2].strip().lower()


def account_for(identity, *, link_by_email, auto_create, desk_groups, now, domains=None):
    """(User, SsoIdentity) that `identity` signs in as; Refused otherwise (nothing written then).

    `desk_groups`: parse_desk_groups' entries. `domains`: the e-mail domains the provider may vouch
    for (a desk's provider), None for the deployment's.
    """
    link = db.session.scalar(select(SsoIdentity).where(SsoIdentity.issuer == identity.issuer,
                                                       SsoIdentity.subject == identity.subject))
    if link is not None:
        user = db.session.get(User, link.user_id)
    else:
        user = _link_new(identity, link_by_email=link_by_email, auto_create=auto_create, now=now, domains=domains)
        link = db.session.scalar(select(SsoIdentity).where(SsoIdentity.issuer == identity.issuer,
                                                           SsoIdentity.subject == identity.subject))
    link.last_sign_in_at = now
    if link.created_account and desk_groups:
        follow_groups(user, identity.groups, desk_groups)
    return user, link


def _link_new(identity, *, link_by_email, auto_create, now, domains):
    if not identity.email:
        raise Refused("Tu cuenta de la empresa no comparte tu correo con este portal; pide a su administrador "
                      "que lo permita, o ingresa con tu correo y contraseña.")
    if not identity.email_verified:
        raise Refused(f"Tu proveedor de identidad no ha verificado el correo {identity.email}. Verifícalo allá "
                      "e inténtalo de nuevo, o ingresa con tu correo y contraseña.")
    if domains is not None and email_domain(identity.email) not in domains:
        raise Refused(f"El proveedor de identidad de tu empresa no responde por el correo {identity.email}. "
                      "Ingresa con tu correo y contraseña.")
    user = find_user_by_email(identity.email)
    if user is not None:
        if not link_by_email:
            raise Refused(UNKNOWN.format(email=identity.email))
        other = db.session.scalar(select(SsoIdentity.id).where(SsoIdentity.user_id == user.id,
                                                               SsoIdentity.issuer == identity.issuer))
        if other is not None:
            raise Refused(f"La cuenta del portal con el correo {identity.email} ya está vinculada con otra cuenta "
                          "de tu empresa. Ingresa con esa cuenta, o pide ayuda a soporte.")
        claim_unverified(user, now)
        db.session.add(SsoIdentity(user_id=user.id, issuer=identity.issuer, subject=identity.subject))
        db.session.flush()
        return user
    if not auto_create or domains is not None:
        raise Refused(UNKNOWN.format(email=identity.email))
    user = User(email=identity.email, name=(identity.name or identity.email.partition("@")[0])[:120],
                password_hash=None, email_verified_at=now)
    db.session.add(user)
    db.session.flush()
    db.session.add(SsoIdentity(user_id=user.id, issuer=identity.issuer, subject=identity.subject, created_account=True))
    db.session.flush()
    return user


def claim_unverified(user, now):
    """An account whose address nobody proved to the portal, now vouched for by the company's
    provider or proxy: whoever made it (perhaps not the address's owner, ahead of them) loses its
    password and sessions, and the address counts as verified."""
    if user.email_verified_at is not None:
        return
    user.password_hash = None
    user.session_token = new_session_token()
    end_all(user)
    user.email_verified_at = now


def follow_groups(user, groups, desk_groups):
    """The user's memberships of the desks OIDC_DESK_GROUPS names, as the provider's `groups` say
    now: the highest role among the user's groups, none if in no group of that desk. Desks the
    setting does not name are left alone."""
    wanted = {}
    for group, rfc, role in desk_groups:
        wanted.setdefault(rfc, None)
        if group in groups and (wanted[rfc] is None or roles.ROLES.index(role) < roles.ROLES.index(wanted[rfc])):
            wanted[rfc] = role
    desks = {desk.rfc: desk for desk in db.session.scalars(select(Desk).where(Desk.rfc.in_(list(wanted))))}
    for rfc, role in wanted.items():
        desk = desks.get(rfc)
        if desk is None:
            continue
        membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id,
                                                                Membership.desk_id == desk.id))
        if role is None:
            if membership is not None:
                db.session.execute(delete(Membership).where(Membership.id == membership.id))
        elif membership is None:
            db.session.add(Membership(user_id=user.id, desk_id=desk.id, role=role))
        else:
            membership.role = role
    db.session.flush()


# --- which provider ----------------------------------------------------------------------------

def deployment_provider(config):
    """The deployment-wide provider (OIDC_ISSUER...), or None."""
    if not config.get("OIDC_ISSUER"):
        return None
    return Provider(config["OIDC_ISSUER"], config["OIDC_CLIENT_ID"], config["OIDC_CLIENT_SECRET"], config["OIDC_SCOPES"])


# A desk's client secret is sealed as the CDAs are (portal/sealed.py), under its own purpose.
CLIENT_SECRET = "sso_client_secret"


def encrypt_secret(secret, key):
    """The client secret sealed under `key` (sealed.data_key)."""
    return sealed.seal(CLIENT_SECRET, secret, key)


def decrypt_secret(token, key):
    """The client secret; ValueError if it was sealed under another key."""
    secret = sealed.unseal(CLIENT_SECRET, token, key)
    if secret is None:
        raise ValueError("secreto cifrado con otra llave")
    return secret


def desk_provider(row, config):
    """The Provider of a desk's DeskIdentityProvider row; ProviderUnavailable if its secret was
    sealed under another DATA_KEY (the back office must set it again)."""
    try:
        secret = decrypt_secret(row.client_secret_encrypted, sealed.data_key(config))
    except ValueError:
        raise ProviderUnavailable("secreto del cliente cifrado con otra DATA_KEY") from None
    return Provider(row.issuer, row.client_id, secret, config["OIDC_SCOPES"], desk_id=row.desk_id)


def desk_provider_for_domain(domain):
    """The DeskIdentityProvider that answers for e-mail `domain`, or None."""
    domain = (domain or "").strip().lower()
    if not domain:
        return None
    for row in db.session.scalars(select(DeskIdentityProvider).order_by(DeskIdentityProvider.desk_id)):
        if domain in row.domain_list:
            return row
    return None


def desk_provider_issuers():
    return list(db.session.scalars(select(DeskIdentityProvider.issuer).distinct()))


def any_desk_provider():
    """Whether some desk has a provider (read apart: the sign-in page asks before the password's hash)."""
    return bool(_rows_apart(select(DeskIdentityProvider.desk_id).limit(1)))


def _rows_apart(statement):
    """The rows of `statement`, outside the request's transaction unless one is already open: on
    SQLite a POST's transaction takes the write lock at its first statement, and the sign-in checks
    the password's hash after these reads (portal/auth/signin.py reads its credentials so too)."""
    if db.session().in_transaction():
        return db.session.execute(statement).all()
    with db.engine.connect() as connection:
        return connection.execute(statement).all()


def provider_for_email(email, config):
    """The provider to send the owner of `email` to: their company's desk provider, else the
    deployment's; None if neither."""
    row = desk_provider_for_domain(email_domain(email))
    if row is not None:
        return desk_provider(row, config)
    return deployment_provider(config)


def provider_of_flow(flow, config):
    """The provider a sign-in in progress started with (its desk's, or the deployment's); None if gone."""
    desk_id = flow.get("desk")
    if desk_id is None:
        provider = deployment_provider(config)
        return provider if provider is not None and provider.issuer == flow.get("issuer") else None
    row = db.session.get(DeskIdentityProvider, desk_id)
    if row is None or row.issuer != flow.get("issuer"):
        return None
    return desk_provider(row, config)


def password_refused_for(email):
    """Whether a desk's provider requires the people of `email`'s domain to sign in with it (read apart)."""
    domain = email_domain(email)
    if not domain:
        return False
    statement = select(DeskIdentityProvider.domains).where(DeskIdentityProvider.required.is_(True),
                                                           DeskIdentityProvider.domains.contains(domain))
    return any(domain in domains.split(",") for (domains,) in _rows_apart(statement))


def offered(config):
    """Whether "Ingresar con la cuenta de tu empresa" is offered at all."""
    return bool(config.get("OIDC_ISSUER")) or any_desk_provider()


def end_session_url(marker, config, back_url):
    """After Cerrar sesión of a session a provider opened (`marker`): its sign-out page, coming
    back to `back_url`; None when it has none or does not answer."""
    if not isinstance(marker, dict):
        return None
    try:
        provider = provider_of_flow(marker, config)
        if provider is None:
            return None
        document = discover(provider.issuer, timeout=config["OIDC_TIMEOUT"])
    except ProviderUnavailable:
        return None
    return end_session_url_of(document, provider.client_id, back_url)


def second_factor_checked(marker):
    """Whether the provider that opened a session (its `marker`, kept in the session) checked a
    second factor itself (its `amr`)."""
    return isinstance(marker, dict) and marker.get("second_factor") is True
