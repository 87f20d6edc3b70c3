"""Sign-in with the company's account (OpenID Connect): /cuenta/sso/iniciar → provider → /cuenta/sso/retorno.

The secrets of a sign-in in progress (state, nonce, PKCE verifier) wait in this browser's session
cookie. SameSite=Lax is enough: the provider sends the browser back with a top-level GET
navigation, and Lax cookies travel with those; a frame cannot host the provider's pages anyway, so
the start link and the return leave the frame (target="_top").
"""
import logging

from flask import current_app, make_response, redirect, request, session, url_for

from portal import clock, metrics
from portal.auth import bp, oidc, pending, sso, two_factor
from portal.auth.views import finish_sign_in
from portal.extensions import db
from portal.htmx import render
from portal.security import policy_with_form_targets
from portal.urls import public_url, safe_next

log = logging.getLogger("portal.sso")

FLOW = "sso_flows"
FLOW_SECONDS = 10 * 60
# Sign-ins in progress kept per browser, by state: one per tab the user started it in.
FLOWS_KEPT = 3
UNAVAILABLE = ("El proveedor de identidad de tu empresa no responde en este momento. Inténtalo más tarde, "
               "o ingresa con tu correo y contraseña.")
EXPIRED = ("Este regreso del proveedor de identidad no corresponde a un inicio de sesión en curso en este "
           "navegador (ya se usó, expiró o empezó en otro). Vuelve a ingresar con la cuenta de tu empresa.")


def _failure(message, status, *, reason):
    """The Spanish page of a sign-in that did not happen (nothing changed), logged without any token."""
    db.session.rollback()
    metrics.count_sign_in("identity_provider", "failure" if status < 500 else "provider_unavailable")
    log.warning("Inicio de sesión con la cuenta de la empresa no completado: %s", reason)
    return render("auth/sso.html", kind="error", message=message), status


def _word(value):
    """A provider's error code as it may be logged: letters, digits, _ and - only."""
    return "".join(ch for ch in (value or "")[:40] if ch.isascii() and (ch.isalnum() or ch in "_-"))


def _timeout():
    return current_app.config["OIDC_TIMEOUT"]


def _redirect_uri():
    return public_url("auth.sso_return")


@bp.get("/sso/iniciar")
def sso_start():
    """Start: the browser goes to the provider of the e-mail's company (asked first when desks
    have providers of their own), else to the deployment's."""
    if not sso.offered(current_app.config):
        return _failure("Este portal no tiene configurado el inicio de sesión con la cuenta de la empresa.", 404,
                        reason="sin proveedor")
    next_url = request.args.get("next", "")
    next_url = next_url if safe_next(next_url) else ""
    email = (request.args.get("email") or "").strip()
    if sso.any_desk_provider() and not email:
        return _start_page(next_url, ""), 200
    try:
        provider = (sso.provider_for_email(email, current_app.config) if email
                    else sso.deployment_provider(current_app.config))
        if provider is None:
            return _start_page(next_url, email[:254], error="Tu empresa no tiene configurado el inicio de sesión "
                                                            "con su cuenta. Ingresa con tu correo y contraseña."), 422
        document = oidc.discover(provider.issuer, timeout=_timeout())
    except oidc.ProviderUnavailable as down:
        return _failure(UNAVAILABLE, 503, reason=f"proveedor de {sso.email_domain(email) or 'la empresa'}: {down}")
    location, flow = oidc.begin(provider, document, _redirect_uri(), login_hint=email[:254] or None)
    flows = _flows()
    flows[flow["state"]] = {**flow, "issuer": provider.issuer, "desk": provider.desk_id, "next": next_url,
                            "until": int(clock.timestamp()) + FLOW_SECONDS}
    session[FLOW] = dict(sorted(flows.items(), key=lambda item: item[1]["until"])[-FLOWS_KEPT:])
    return redirect(location, code=303)


def _flows():
    """This browser's sign-ins in progress that have not expired, {state: flow}."""
    flows = session.get(FLOW)
    if not isinstance(flows, dict):
        return {}
    now = clock.timestamp()
    return {state: flow for state, flow in flows.items() if isinstance(flow, dict) and flow.get("until", 0) >= now}


def _start_page(next_url, email, error=None):
    """The page asking the e-mail; its form's answer leads to one of the providers, which its CSP names."""
    response = make_response(render("auth/sso.html", kind="start", next=next_url, email=email, error=error))
    response.headers["Content-Security-Policy"] = policy_with_form_targets(
        [current_app.config.get("OIDC_ISSUER"), *sso.desk_provider_issuers()])
    return response


@bp.get("/sso/retorno")
def sso_return():
    """Back from the provider: check everything, then sign in like a password would."""
    flows = _flows()
    flow = flows.pop(str(request.args.get("state") or ""), None)
    session[FLOW] = flows  # used once, whatever comes of it
    if flow is None or not oidc.state_matches(flow, request.args.get("state")):
        return _failure(EXPIRED, 400, reason="state desconocido, usado o vencido")
    if request.args.get("error"):
        return _failure("El proveedor de identidad no completó el inicio de sesión (lo cancelaste o no lo "
                        "permitió). Puedes intentarlo de nuevo o ingresar con tu correo y contraseña.", 400,
                        reason=f"error del proveedor: {_word(request.args.get('error'))}")
    code = request.args.get("code")
    timeout = _timeout()
    try:
        provider = sso.provider_of_flow(flow, current_app.config)
        if not code or provider is None:
            return _failure(EXPIRED, 400, reason="sin código o proveedor cambiado")
        document = oidc.discover(provider.issuer, timeout=timeout)
        answer = oidc.exchange(provider, document, code, flow["verifier"], _redirect_uri(), timeout=timeout)
        claims = oidc.verify_id_token(
            answer["id_token"], issuer=provider.issuer, client_id=provider.client_id, nonce=flow["nonce"],
            now=clock.timestamp(), keys=lambda refresh: oidc.key_set(document["jwks_uri"], timeout=timeout, refresh=refresh))
        extra = None
        if "email" not in claims or "email_verified" not in claims:
            extra = oidc.userinfo(document, answer.get("access_token"), timeout=timeout)
    except oidc.ProviderUnavailable as down:
        return _failure(UNAVAILABLE, 503, reason=f"{flow.get('issuer')} no responde: {down}")
    except oidc.ProviderRefused as refused:
        return _failure("El proveedor de identidad rechazó este inicio de sesión (el enlace de regreso ya se usó "
                        "o expiró). Vuelve a ingresar con la cuenta de tu empresa.", 400,
                        reason=f"intercambio rechazado: {str(refused)[:60]}")
    except oidc.BadToken as bad:
        return _failure(f"{bad} No se inició la sesión; vuelve a intentarlo o avisa a soporte si se repite.", 400,
                        reason=f"token rechazado: {bad}")
    identity = oidc.identity_of(provider.issuer, claims, extra)
    row = db.session.get(sso.DeskIdentityProvider, provider.desk_id) if provider.desk_id else None
    config = current_app.config
    try:
        user, _link = sso.account_for(
            identity, link_by_email=config["OIDC_LINK_BY_EMAIL"], auto_create=config["OIDC_AUTO_CREATE"],
            desk_groups=config["OIDC_DESK_GROUP_MAP"], now=clock.now(),
            domains=row.domain_list if row is not None else None)
    except sso.Refused as refused:
        return _failure(str(refused), 403, reason="identidad sin cuenta o no admitida")
    return complete(user, identity, flow)


def complete(user, identity, flow):
    """Sign `user` in: now, or after the TOTP code when the account uses one and the provider did
    not check a second factor itself (its `amr`)."""
    marker = {"issuer": identity.issuer, "desk": flow.get("desk"), "second_factor": identity.second_factor}
    if two_factor.is_enabled(user) and not identity.second_factor:
        db.session.commit()  # the link is kept; the session starts after the code
        metrics.count_sign_in("identity_provider", "second_step_required")
        pending.begin(user, False, flow.get("next"), sso=marker)
        return redirect(url_for("auth.second_step"), code=303)
    metrics.count_sign_in("identity_provider", "success")
    return finish_sign_in(user, False, flow.get("next"), sso=marker)
