"""Accounts: sign-in and out, Crear cuenta, e-mail verification, password reset."""
from flask import current_app, flash, make_response, redirect, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import IntegrityError

from portal import audit, metrics
from portal.auth import bp, mails, pending, registration, sessions, throttle, tokens, two_factor
from portal.auth.forms import ConfirmForm, ForgotForm, RegisterForm, ResetForm, SignInForm
from portal.auth.recovery import reset_password
from portal.auth import sso
from portal.auth.sso import email_domain, password_refused_for
from portal.auth.signin import BadCredentials, authenticate, find_user_by_email, mark_verified, signed_in_from
from portal.errors import rate_limited
from portal.extensions import db
from portal.limits import RateLimited
from portal import clock
from portal.htmx import is_htmx, render
from portal.htmx import redirect as hx_redirect
from portal.urls import here, public_url, safe_next

BAD_CREDENTIALS = "Correo o contraseña incorrectos."


def _ip():
    return request.remote_addr


def _throttled(error, template, block, **context):
    """The page (or block) again, with the wait message (or why the limits cannot be checked)."""
    return rate_limited(error, render(template, block=block, error=str(error), **context))


def _form_or_limit(form, template, block, action):
    """For a form that sends e-mail: the page again if it is a GET, invalid (422) or over the
    limits for this address and IP (429); None when the view may go on."""
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render(template, block=block, form=form), status
    try:
        email = form.email.data
        throttle.spend(action, ip=_ip(), email=email, known_address=lambda: signed_in_from(email, _ip()))
    except RateLimited as refused:
        return _throttled(refused, template, block, form=form)
    return None


@bp.route("/ingresar", methods=["GET", "POST"])
def sign_in():
    """"Iniciar sesión": e-mail and password; the same page is "Acceso a Distribuidores"."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("core.home"))

    form = SignInForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    status = 200
    error = None
    context = {"sso": sso.offered(current_app.config)}
    if form.validate_on_submit():
        email = form.email.data
        if password_refused_for(email):
            # "Solo con la cuenta de la empresa": the desk's provider is the only way in for its domains.
            error = (f"Las cuentas de {email_domain(email)} ingresan solo con la cuenta de su empresa: usa "
                     "«Ingresar con la cuenta de tu empresa» con este mismo correo.")
            return render("auth/sign_in.html", block="sign_in_form", form=form, error=error, **context), 403
        try:
            # Counted before the password is checked (hit-then-check); a right one is given back.
            throttle.sign_in_attempt(_ip(), email, known_address=lambda: signed_in_from(email, _ip()))
            user = authenticate(email, form.password.data)
        except RateLimited as refused:
            metrics.count_sign_in("password", "limited")
            return _throttled(refused, "auth/sign_in.html", "sign_in_form", form=form, **context)
        except BadCredentials as bad:
            metrics.count_sign_in("password", "failure")
            # Kept under the account the e-mail names, so its owner sees it in Actividad.
            audit.record("sign_in_failed", user=bad.user, ip=_ip(), actor=email[:120])
            db.session.commit()
            error, status = BAD_CREDENTIALS, 422
        else:
            throttle.sign_in_succeeded(_ip(), email)
            if two_factor.is_enabled(user):
                metrics.count_sign_in("password", "second_step_required")
                # Not signed in yet: the second step (portal/auth/second_step.py) asks for the code.
                db.session.commit()  # a rehashed password is kept
                pending.begin(user, form.remember.data, form.next.data)
                return hx_redirect(url_for("auth.second_step"))
            metrics.count_sign_in("password", "success")
            return finish_sign_in(user, form.remember.data, form.next.data)
    elif request.method == "POST":
        status = 422
    return render("auth/sign_in.html", block="sign_in_form", form=form, error=error, **context), status


def finish_sign_in(user, remember, next_url, sso=None, **detail):
    """Sign `user` in (every step passed): a new session, the audit event, the landing page.
    `sso`: the session comes from the company's provider (portal/auth/sso_views.py), which
    Cerrar sesión then signs out of too."""
    # A fresh session at sign-in, with a new server-side id: nothing planted before it survives.
    session.clear()
    login_user(sessions.start(user, idle_limit=current_app.config["REMEMBER_COOKIE_DURATION"]), remember=remember)
    if sso:
        session["sso"] = sso
    event = ("sign_in_proxy" if sso.get("proxy") else "sign_in_sso") if sso else "sign_in"
    audit.record(event, user=user, ip=_ip(), **detail)
    db.session.commit()
    landing = url_for("core.home") if user.email_verified else url_for("auth.verify_request")
    return hx_redirect(safe_next(next_url) or landing)


@bp.get("/distribuidores")
def distributors():
    """"Acceso a Distribuidores": the same sign-in page."""
    return redirect(url_for("auth.sign_in"), code=301)


@bp.post("/salir")
def sign_out():
    """Cerrar sesión (POST only, with CSRF, so a link elsewhere cannot sign a user out)."""

    provider_session = session.get("sso") if current_user.is_authenticated else None
    if current_user.is_authenticated:
        # The server forgets the session: a copy of this browser's cookies no longer signs in.
        sessions.end(current_user)
        audit.record("sign_out", user=current_user.id, ip=_ip())
        db.session.commit()
    logout_user()
    session.clear()
    # Opened by the company's provider: signed out there too, and back to "Iniciar sesión".
    back = public_url("auth.sign_in")
    return redirect(sso.end_session_url(provider_session, current_app.config, back) or url_for("auth.sign_in"),
                    code=303)


@bp.route("/crear", methods=["GET", "POST"])
def register():
    """"Crear cuenta": the same answer whether or not the e-mail or the RFC already exist."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("core.home"))
    form = RegisterForm()
    stop = _form_or_limit(form, "auth/register.html", "register_form", action="register")
    if stop:
        return stop
    result = registration.register(registration.Application(
        razon_social=form.razon_social.data, rfc=form.rfc.data, name=form.name.data,
        phone=form.phone.data, email=form.email.data, password=form.password.data,
    ))
    if result.outcome is registration.Outcome.EMAIL_TAKEN:
        mails.account_exists(result.user)
        audit.record("sign_up_existing_email", user=result.user, ip=_ip())
    else:
        rfc_taken = result.outcome is registration.Outcome.RFC_TAKEN
        mails.verification(result.user, welcome=True, rfc_taken=rfc_taken)
        audit.record("account_created", user=result.user, desk=result.desk, ip=_ip(), rfc_taken=rfc_taken)
    try:
        db.session.commit()
    except IntegrityError:
        # A simultaneous sign-up took the e-mail or RFC first: the same answer, nothing created.
        db.session.rollback()
    return hx_redirect(url_for("auth.register_sent"))


@bp.get("/crear/enviado")
def register_sent():
    """After "Crear cuenta": check your e-mail (worded to fit every outcome)."""
    return render("auth/notice.html", title="Revisa tu correo", kind="register_sent")


@bp.get("/terminos")
def terms():
    """The terms and conditions the sign-up form asks to accept."""
    return render("auth/terms.html")


@bp.get("/verificar")
@login_required
def verify_request():
    """Where an unverified user is sent: why the e-mail must be verified, and a resend button."""
    return render("auth/verify_request.html", form=ConfirmForm())


@bp.post("/verificar")
@login_required
def resend_verification():
    """Send the verification link again (a few times an hour at most)."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        return render("auth/verify_request.html", block="verify_panel", form=form), 400
    if current_user.email_verified:
        notice = "Tu correo ya está verificado."
    else:
        try:
            throttle.spend("verify", user=current_user)
        except RateLimited as refused:
            return _throttled(refused, "auth/verify_request.html", "verify_panel", form=form)
        mails.verification(current_user.account())
        audit.record("verification_sent", user=current_user.id, ip=_ip())
        db.session.commit()
        notice = f"Te enviamos un nuevo enlace de verificación a {current_user.email}."
    if is_htmx():
        return render("auth/verify_request.html", block="verify_panel", form=form, notice=notice)
    flash(notice, "success")
    return redirect(url_for("auth.verify_request"), code=303)


@bp.route("/verificar/<secret:token>", methods=["GET", "POST"])
def verify_email(token):
    """The link of the verification e-mail: a page with one button, so a mail scanner's visit
    verifies nothing; its POST proves the address is the account's own."""
    try:
        claim = tokens.read(tokens.VERIFY_EMAIL, token)
    except tokens.TokenError as error:
        return _link_error(error, retry=("auth.verify_request", "Pedir un nuevo enlace"))
    form = ConfirmForm()
    if not form.validate_on_submit():
        return render("auth/verify_email.html", form=form, user=claim.user), 400 if request.method == "POST" else 200
    mark_verified(claim.user)
    audit.record("email_verified", user=claim.user, ip=_ip())
    db.session.commit()
    flash("¡Listo! Tu correo quedó verificado.", "success")
    if current_user.is_authenticated:
        return redirect(url_for("core.home"), code=303)
    return redirect(url_for("auth.sign_in"), code=303)


@bp.route("/recuperar", methods=["GET", "POST"])
def forgot():
    """"¿Olvidaste tu contraseña?": a reset link if the e-mail has an account; the same answer if not."""
    form = ForgotForm()
    if not form.validate_on_submit():
        return render("auth/forgot.html", block="forgot_form", form=form), 422 if request.method == "POST" else 200
    email, mail = form.email.data, True
    try:
        throttle.spend("reset", ip=_ip(), email=email, known_address=lambda: signed_in_from(email, _ip()))
    except RateLimited as refused:
        if refused.name != "mail_account" or refused.storage_down:
            return _throttled(refused, "auth/forgot.html", "forgot_form", form=form)
        # Past the recipient's ceiling, from an address it never signed in from: answered as any
        # reset, without a mail (a 429 would keep its owner from asking again from a new address).
        mail = False
    user = find_user_by_email(email)
    # The same work whether or not the account exists (or gets its mail): see mails.password_reset.
    mails.password_reset(user if mail else None, email)
    if user is not None:
        audit.record("password_reset_requested" if mail else "password_reset_withheld", user=user, ip=_ip())
    else:
        # Recorded too (who is probing for accounts?), and written the same way.
        audit.record("password_reset_unknown_email", ip=_ip(), actor=email[:120])
    db.session.commit()
    return hx_redirect(url_for("auth.forgot_sent"))


@bp.get("/recuperar/enviado")
def forgot_sent():
    """After "¿Olvidaste tu contraseña?": check your e-mail."""
    return render("auth/notice.html", title="Revisa tu correo", kind="forgot_sent")


@bp.route("/restablecer/<secret:token>", methods=["GET", "POST"])
def reset(token):
    """Choose a new password from the e-mailed reset link (1 hour, single use); every session ends."""
    return _choose_password(token, tokens.RESET_PASSWORD)


@bp.route("/definir/<secret:token>", methods=["GET", "POST"])
def set_password(token):
    """A user the back office created chooses a first password (link valid a week, single use)."""
    return _choose_password(token, tokens.SET_PASSWORD)


def _choose_password(token, purpose):
    """Check the link of `purpose`, then take the new password; nothing changes on a bad link."""
    try:
        claim = tokens.read(purpose, token)
    except tokens.TokenError as error:
        return _link_error(error, retry=("auth.forgot", "Solicitar un nuevo enlace"))
    user = claim.user
    form = ResetForm(email=user.email)
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render("auth/reset.html", block="reset_form", form=form, token=token), status
    reset_password(user, form.password.data)
    audit.record("password_reset", user=user, ip=_ip())
    mails.password_changed(user, clock.now())
    db.session.commit()
    throttle.password_reset(_ip(), user.email)
    logout_user()
    session.clear()
    flash("Tu contraseña se cambió. Inicia sesión con la nueva.", "success")
    return hx_redirect(url_for("auth.sign_in"))


def _link_error(error, retry):
    """A dead link: why (invalid, expired, used) and how to get a new one; 400, nothing changed."""
    endpoint, label = retry
    return render("auth/notice.html", title="Enlace no válido", kind="link_error", message=str(error),
                  retry_url=url_for(endpoint), retry_label=label), 400


def unauthorized():
    """Not signed in: to "Iniciar sesión", coming back here afterwards (htmx: a full redirect)."""
    target = url_for("auth.sign_in", next=here() if request.method == "GET" else None)
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)
