"""Sign-in and sign-out."""
from flask import redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from portal import audit
from portal.auth import bp
from portal.auth.forms import SignInForm
from portal.auth.signin import authenticate
from portal.extensions import db
from portal.htmx import redirect as hx_redirect
from portal.htmx import render
from portal.urls import safe_next

BAD_CREDENTIALS = "Correo o contraseña incorrectos."


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
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is None:
            audit.record("sign_in_failed", ip=request.remote_addr, actor=form.email.data[:120])
            db.session.commit()
            error, status = BAD_CREDENTIALS, 422
        else:
            # A fresh session at sign-in: nothing planted before it survives.
            session.clear()
            login_user(user, remember=form.remember.data)
            audit.record("sign_in", user=user, ip=request.remote_addr)
            db.session.commit()
            return hx_redirect(safe_next(form.next.data) or url_for("core.home"))
    elif request.method == "POST":
        status = 422
    return render("auth/sign_in.html", block="sign_in_form", form=form, error=error), status


@bp.get("/verificar")
def verify_request():
    """Where an unverified user is sent to verify their e-mail (the accounts issue builds it)."""
    return render("auth/verify_request.html")


@bp.post("/salir")
def sign_out():
    """Cerrar sesión (POST only, with CSRF, so a link elsewhere cannot sign a user out)."""
    logout_user()
    session.clear()
    return redirect(url_for("auth.sign_in"), code=303)


def unauthorized():
    """Not signed in: to "Iniciar sesión", coming back here afterwards (htmx: a full redirect)."""
    from flask import make_response

    from portal.htmx import is_htmx
    from portal.urls import here

    target = url_for("auth.sign_in", next=here() if request.method == "GET" else None)
    if is_htmx() or request.headers.get("HX-Request") == "true":
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)
