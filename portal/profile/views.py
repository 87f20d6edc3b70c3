"""Mi perfil > Datos generales: name and phone, e-mail (confirmed from the new address), password;
and Actividad, the account's own history."""
from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required, login_user

from portal import audit
from portal.auth import mails, sessions, throttle, tokens
from portal.auth.forms import ConfirmForm
from portal.auth.passwords import WeakPassword
from portal.errors import rate_limited
from portal.limits import RateLimited
from portal.extensions import db
from portal.grid import GridTemplate, grid_response
from portal.htmx import is_htmx, render
from portal.numbers import whole_number
from portal import clock
from portal.request_units import reads_only
from portal.profile import activity, bp, changes
from portal.profile.forms import DetailsForm, EmailForm, PasswordForm

PAGE = "profile/general.html"


def _forms(account, **given):
    """The page's three forms: the one posted (with its data and errors), the others fresh
    (`account`'s name and phone)."""
    forms = {
        "details_form": lambda: DetailsForm(formdata=None, obj=account, prefix="details"),
        "email_form": lambda: EmailForm(formdata=None, prefix="email"),
        "password_form": lambda: PasswordForm(formdata=None, prefix="password"),
    }
    return {name: given.get(name) or make() for name, make in forms.items()}


def _answer(section, form=None, status=422, message=None, account=None):
    """After a POST to one section: for htmx its block, with the form's errors or the notice;
    without JS the page with the errors, or after a change a redirect to it with the notice.
    `account`: the account as this request left it (default: as it was read, current_user)."""
    if status == 200 and not is_htmx():
        flash(message, "success")
        return redirect(url_for("profile.general"), code=303)
    # After a change the section's form comes back fresh (saved values, empty passwords).
    account = account or current_user
    context = _forms(account, **({f"{section}_form": form} if status != 200 else {}))
    context[f"{section}_notice" if status == 200 else f"{section}_error"] = message
    return render(PAGE, block=f"profile_{section}", account=account, **context), status


@bp.get("")
@login_required
def general():
    """"Mi perfil > Datos generales"."""
    return render(PAGE, account=current_user, **_forms(current_user))


@bp.post("/datos")
@login_required
def update_details():
    """Save name and phone."""
    form = DetailsForm(prefix="details")
    if not form.validate_on_submit():
        return _answer("details", form)
    account = current_user.account()
    if changes.update_details(account, form.name.data, form.phone.data):
        audit.record("profile_updated", user=account.id, ip=request.remote_addr)
    db.session.commit()
    return _answer("details", status=200, message="Tus datos generales se guardaron.", account=account)


@bp.post("/correo")
@login_required
def change_email():
    """Ask to change the e-mail: a link goes to the new address; nothing changes until it is opened."""
    form = EmailForm(prefix="email")
    if not form.validate_on_submit():
        return _answer("email", form)
    user, new_email = current_user.account(), form.new_email.data
    try:
        throttle.password_attempt(user)
        other = changes.request_email_change(user, form.current_password.data, new_email)
        throttle.password_was_right(user)
        throttle.spend("email-change", email=new_email, user=user)
    except RateLimited as refused:
        return rate_limited(refused, _answer("email", form, 429, str(refused))[0])
    except changes.WrongPassword as error:
        form.current_password.errors = [str(error)]
        return _answer("email", form)
    except changes.SameEmail as error:
        throttle.password_was_right(user)
        form.new_email.errors = [str(error)]
        return _answer("email", form)
    if other is None:
        mails.email_change_confirmation(user, new_email)
    else:
        # The same answer on this page; the address's owner is told, and nothing changes.
        mails.email_change_refused(new_email)
    audit.record("email_change_requested", user=user, ip=request.remote_addr, to=new_email)
    db.session.commit()
    return _answer("email", status=200, message=(
        f"Te enviamos un enlace a {new_email}. Tu correo cambiará cuando lo abras desde ese buzón "
        f"(vence en {tokens.HOURS[tokens.CHANGE_EMAIL]} horas); mientras tanto seguirás usando {user.email}."
    ))


@bp.post("/contrasena")
@login_required
def change_password():
    """Change the password (the current one required); the user's other sessions end."""
    user = current_user.account()
    form = PasswordForm(prefix="password", email=user.email)
    if not form.validate_on_submit():
        return _answer("password", form)
    try:
        throttle.password_attempt(user)
        changes.change_password(user, form.current_password.data, form.new_password.data)
    except RateLimited as refused:
        return rate_limited(refused, _answer("password", form, 429, str(refused))[0])
    except changes.WrongPassword as error:
        form.current_password.errors = [str(error)]
        return _answer("password", form)
    except WeakPassword as error:
        throttle.password_was_right(user)
        form.new_password.errors = [str(error)]
        return _answer("password", form)
    throttle.password_was_right(user)
    audit.record("password_changed", user=user, ip=request.remote_addr)
    mails.password_changed(user, clock.now())
    _continue_in_a_new_session(user)
    db.session.commit()
    return _answer("password", status=200,
                   message="Tu contraseña se cambió. Cerramos tu sesión en los demás equipos.")


def _continue_in_a_new_session(user):
    """After a change that ended every session of the account: this browser goes on in a new one
    (and a new remember-me cookie if it had one); copies of its old cookies are dead."""
    remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    # The desk and the saved columns are the account's: this request goes on with them.
    login_user(sessions.start(user, desk=current_user.desk, column_choices=current_user.column_choices),
               remember=remembered)


@bp.route("/actividad", methods=["GET", "POST"])  # POST: "Columnas" saved
@reads_only
@login_required
def activity_log():
    """"Actividad": every event of the account, on the grid (filter by kind and dates, CSV)."""
    page = request.args.get("page", "1")
    if not whole_number(page, 10_000):  # None (not a number up to 10,000) or 0
        abort(400, "La página solicitada no es válida.")
    return grid_response(activity.ACTIVITY, {"user_id": current_user.id},
                         GridTemplate("profile/activity.html", "activity_grid"))


@bp.route("/correo/confirmar/<secret:token>", methods=["GET", "POST"])
def confirm_email(token):
    """The link sent to the new address: a page with one button, so a mail scanner's visit changes nothing."""
    try:
        claim = tokens.read(tokens.CHANGE_EMAIL, token)
    except tokens.TokenError as error:
        return render("auth/notice.html", title="Enlace no válido", kind="link_error", message=str(error),
                      retry_url=url_for("profile.general"), retry_label="Ir a Mi perfil"), 400
    user, new_email = claim.user, claim.data.get("email", "")
    if current_user.is_authenticated and current_user.id != user.id:
        abort(403, "Este enlace es de otra cuenta. Cierra tu sesión y ábrelo de nuevo.")
    form = ConfirmForm()
    if not form.validate_on_submit():
        return render("profile/confirm_email.html", form=form, user=user, new_email=new_email)
    try:
        old_email = changes.confirm_email_change(user, new_email)
    except changes.EmailTaken as error:
        abort(409, str(error))
    audit.record("email_changed", user=user, ip=request.remote_addr, **{"from": old_email, "to": new_email})
    mails.email_changed(user, old_email, clock.now())
    if current_user.is_authenticated:
        _continue_in_a_new_session(user)
    db.session.commit()
    flash(f"Listo: el correo de tu cuenta ahora es {new_email}.", "success")
    target = url_for("profile.general") if current_user.is_authenticated else url_for("auth.sign_in")
    return redirect(target, code=303)
