"""The second step of sign-in: after the right password, a code from the authenticator app (or a
recovery code). Only a browser that just gave the right password reaches it (portal/auth/pending.py)."""
from flask import flash, redirect, request, url_for

from portal import audit, metrics
from portal.auth import bp, pending, throttle, two_factor
from portal.auth.forms import CodeForm
from portal.auth.views import finish_sign_in
from portal.errors import rate_limited
from portal.extensions import db
from portal.htmx import render
from portal.htmx import redirect as hx_redirect
from portal.limits import RateLimited
from portal.models import User

PAGE = "auth/second_step.html"
EXPIRED = "Tu inicio de sesión expiró. Captura otra vez tu correo y contraseña."


def _pending_user():
    """The account whose password this browser just gave, if that was minutes ago and still valid."""
    state = pending.current()
    if state is None:
        return None, None
    user = db.session.get(User, state.get("user"))
    if user is None or user.session_token != state.get("token"):
        pending.drop()
        return None, None
    return user, state


@bp.route("/verificacion", methods=["GET", "POST"])
def second_step():
    """"Código de verificación": the sign-in ends here for an account with two-factor sign-in."""
    user, state = _pending_user()
    if user is None:
        flash(EXPIRED, "info")
        return hx_redirect(url_for("auth.sign_in"))
    form = CodeForm()
    if not form.validate_on_submit():
        return render(PAGE, block="second_step_form", form=form), 422 if request.method == "POST" else 200
    ip = request.remote_addr
    try:
        throttle.code_attempt(user.id, ip)  # counted before the code is checked
        how = two_factor.verify(user, form.code.data)
    except RateLimited as refused:
        metrics.count_sign_in("second_step", "limited")
        return rate_limited(refused, render(PAGE, block="second_step_form", form=form, error=str(refused)))
    except two_factor.WrongCode as wrong:
        metrics.count_sign_in("second_step", "failure")
        db.session.rollback()
        audit.record("two_factor_failed", user=user, ip=ip)
        db.session.commit()
        form.code.errors = [str(wrong)]
        return render(PAGE, block="second_step_form", form=form), 422
    throttle.code_was_right(user.id, ip)
    metrics.count_sign_in("second_step", "success")
    if how == "recovery":
        left = two_factor.remaining_recovery_codes(user)
        audit.record("recovery_code_used", user=user, ip=ip, remaining=left)
    else:
        audit.record("two_factor_ok", user=user, ip=ip)
    response = finish_sign_in(user, state["remember"], state["next"], sso=state.get("sso"), second_step=how)
    if how == "recovery":
        flash(f"Usaste un código de recuperación; te quedan {left}. Puedes generar nuevos en "
              "Mi perfil > Verificación en dos pasos.", "info")
    return response


@bp.get("/verificacion/cancelar")
def cancel_second_step():
    """Back to "Iniciar sesión" (another account, or no phone at hand)."""
    pending.drop()
    return redirect(url_for("auth.sign_in"), code=303)
