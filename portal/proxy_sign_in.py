"""Sign-in by a trusted reverse proxy (oauth2-proxy, Authelia, authentik, mod_auth_openidc): it sets
AUTH_PROXY_HEADER to the signed-in user's verified e-mail, and the portal opens a session for the
account with that e-mail, like any other (revocable, idle and absolute limits, Actividad).

The header counts only from AUTH_PROXY_ADDRESSES, checked against the TCP peer before ProxyFix
rewrites the client's address: from anyone else it is removed (and logged), so a browser that
writes the header itself gets nothing.
"""
import logging

from flask import current_app, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from portal import audit, clock, metrics
from portal.auth import pending, sessions, two_factor
from portal.auth.signin import find_user_by_email
from portal.auth.sso import claim_unverified
from portal.desks import first_desk_of
from portal.extensions import db
from portal.urls import here

log = logging.getLogger("portal.sso")

# Pages a proxy's header does not sign in on: the second step (its own flow) and the API (tokens).
UNTOUCHED = {"static", "auth.second_step", "auth.cancel_second_step", "auth.sign_out"}


def is_trusted(address, networks):
    import ipaddress

    try:
        peer = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(peer in network for network in networks)


class TrustedHeaderGate:
    """WSGI middleware, outermost: drops AUTH_PROXY_HEADER unless the peer is a trusted proxy."""

    def __init__(self, app, header, networks):
        self.app = app
        self.key = "HTTP_" + header.upper().replace("-", "_")
        self.networks = networks

    def __call__(self, environ, start_response):
        if self.key in environ and not is_trusted(environ.get("REMOTE_ADDR"), self.networks):
            del environ[self.key]
            log.warning("Encabezado de inicio de sesión ignorado: llegó de %s, que no está en AUTH_PROXY_ADDRESSES",
                        environ.get("REMOTE_ADDR"))
        return self.app(environ, start_response)


def init_app(app):
    header = app.config.get("AUTH_PROXY_HEADER")
    if not header:
        return
    app.wsgi_app = TrustedHeaderGate(app.wsgi_app, header, app.config["AUTH_PROXY_NETWORKS"])
    app.before_request(sign_in_from_proxy)


def sign_in_from_proxy():
    """Before each page: the account the proxy names is the one signed in (None: go on)."""
    if request.endpoint in UNTOUCHED or request.blueprint == "api":
        return None
    email = (request.headers.get(current_app.config["AUTH_PROXY_HEADER"]) or "").strip().lower()
    if not email:
        return None
    if current_user.is_authenticated:
        if current_user.email == email:
            return None
        # The proxy now names someone else: this browser's session ends.
        sessions.end(current_user)
        logout_user()
        session.clear()
    user = find_user_by_email(email)
    if user is None:
        log.info("El proxy nombró un correo sin cuenta en el portal")
        db.session.commit()
        return None
    claim_unverified(user, clock.now())
    if two_factor.is_enabled(user):
        # The proxy checked the password; the account's own second step still asks its code.
        state = pending.current()
        if state is None or state.get("user") != user.id:
            pending.begin(user, False, here() if request.method == "GET" else "",
                          sso={"proxy": True, "second_factor": False})
        db.session.commit()
        return redirect(url_for("auth.second_step"), code=303)
    session.clear()
    login_user(sessions.start(user, idle_limit=current_app.config["REMEMBER_COOKIE_DURATION"],
                              desk=first_desk_of(user.id)))
    session["sso"] = {"proxy": True, "second_factor": False}
    audit.record("sign_in_proxy", user=user, ip=request.remote_addr)
    db.session.commit()
    metrics.count_sign_in("trusted_proxy", "success")
    return None
