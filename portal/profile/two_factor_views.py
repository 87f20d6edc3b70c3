"""Mi perfil > Verificación en dos pasos: enrol an authenticator app (QR code and the secret as
text), recovery codes, turning it off, and, for a desk's owner, requiring it of the whole desk."""
from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from portal import audit, roles
from portal.desks import desk_of
from portal.auth import mails, throttle, totp, two_factor
from portal.auth.forms import ConfirmForm
from portal.errors import rate_limited
from portal.extensions import db
from portal.htmx import render
from portal.limits import RateLimited
from portal.models import Desk, Membership
from portal.profile import bp
from portal.profile.forms import DeskRequirementForm, PasswordAndCodeForm
from portal.profile.views import _continue_in_a_new_session

PAGE = "profile/two_factor.html"
CODES_PAGE = "profile/recovery_codes.html"


def _owned_desks(user):
    """The desks `user` owns: where the desk's requirement can be set."""
    return db.session.scalars(select(Desk).join(Membership).where(
        Membership.user_id == user.id, Membership.role == "owner").order_by(Desk.razon_social, Desk.id)).all()


def _page(status=200, **given):
    """The page, with the posted form (and its errors) and the others fresh."""
    user = current_user.account()
    posted = dict([given.pop("desk_form")]) if "desk_form" in given else {}  # (desk id, its posted form)
    secret = two_factor.pending_secret(user)
    enrolment = None
    if secret is not None:
        issuer = f"{current_app.config['BRAND_NAME']} Escritorio de Servicios"
        enrolment = {"qr": totp.qr_data_uri(totp.provisioning_uri(secret, user.email, issuer)),
                     "secret": totp.grouped(secret)}
    context = {
        "enabled": two_factor.is_enabled(user), "enrolment": enrolment,
        "remaining": two_factor.remaining_recovery_codes(user), "required_by": two_factor.desk_requiring(user),
        "desks": [(desk, posted.get(desk.id) or DeskRequirementForm(formdata=None, require=desk.require_two_factor,
                                                                     prefix=f"desk{desk.id}"))
                  for desk in _owned_desks(user)],
        "start_form": ConfirmForm(),
    }
    for name in ("confirm_form", "codes_form", "disable_form"):
        context[name] = given.pop(name, None) or PasswordAndCodeForm(formdata=None, prefix=name.split("_")[0])
    context.update(given)
    return render(PAGE, **context), status


def _prove(name, form, action, shown=None):
    """Run `action(user, password, code)` with the proof of form `name` under the limits; (result, error page).

    `shown`: what the page is given as `name` (default the form).
    """
    shown = form if shown is None else shown
    user, ip = current_user.account(), request.remote_addr
    try:
        # Both counted before the password and the code are checked; given back when right.
        throttle.password_attempt(user)
        throttle.code_attempt(user.id, ip)
        result = action(user, form.current_password.data, form.code.data)
    except RateLimited as refused:
        body, _status = _page(429, error=str(refused), **{name: shown})
        return None, rate_limited(refused, body)
    except two_factor.WrongPassword as wrong:
        db.session.rollback()
        throttle.code_not_checked(user.id, ip)
        form.current_password.errors = [str(wrong)]
    except two_factor.WrongCode as wrong:
        db.session.rollback()
        throttle.password_was_right(user)
        audit.record("two_factor_failed", user=user.id, ip=ip)
        db.session.commit()
        form.code.errors = [str(wrong)]
    except (two_factor.NoEnrolment, two_factor.RequiredByDesk) as refused:
        db.session.rollback()
        throttle.password_was_right(user)
        throttle.code_not_checked(user.id, ip)
        return None, _page(409, error=str(refused), **{name: shown})
    else:
        throttle.password_was_right(user)
        throttle.code_was_right(user.id, ip)
        return result, None
    return None, _page(422, **{name: shown})


@bp.get("/dos-pasos")
@login_required
def two_factor_page():
    """"Verificación en dos pasos": on or off, the enrolment in progress, the desks one owns."""
    return _page()


@bp.post("/dos-pasos/iniciar")
@login_required
def start_two_factor():
    """A new secret for the authenticator app (replacing an unconfirmed one); shown on the page."""
    if not ConfirmForm().validate_on_submit():
        return _page(400, error="La solicitud no es válida. Recarga la página e inténtalo de nuevo.")
    if two_factor.is_enabled(current_user):
        return redirect(url_for("profile.two_factor_page"), code=303)
    two_factor.start_enrolment(current_user.account())
    db.session.commit()
    return redirect(url_for("profile.two_factor_page") + "#profile-2fa-enrol", code=303)


@bp.post("/dos-pasos/confirmar")
@login_required
def confirm_two_factor():
    """The first right code turns it on; the recovery codes are shown this once."""
    form = PasswordAndCodeForm(prefix="confirm")
    if not form.validate_on_submit():
        return _page(422, confirm_form=form)
    codes, stop = _prove("confirm_form", form, two_factor.confirm_enrolment)
    if stop:
        return stop
    user = current_user.account()
    audit.record("two_factor_enabled", user=user, ip=request.remote_addr)
    mails.two_factor_changed(user, enabled=True)
    _continue_in_a_new_session(user)
    db.session.commit()
    return render(CODES_PAGE, codes=codes, first=True)


@bp.post("/dos-pasos/codigos")
@login_required
def regenerate_recovery_codes():
    """Ten new recovery codes (the old ones stop working), with the password and a code."""
    form = PasswordAndCodeForm(prefix="codes")
    if not form.validate_on_submit():
        return _page(422, codes_form=form)
    codes, stop = _prove("codes_form", form, two_factor.regenerate_recovery_codes)
    if stop:
        return stop
    audit.record("recovery_codes_regenerated", user=current_user.id, ip=request.remote_addr)
    db.session.commit()
    return render(CODES_PAGE, codes=codes, first=False)


@bp.post("/dos-pasos/desactivar")
@login_required
def disable_two_factor():
    """Turn it off, with the password and a code from the app (or a recovery code)."""
    form = PasswordAndCodeForm(prefix="disable")
    if not form.validate_on_submit():
        return _page(422, disable_form=form)
    how, stop = _prove("disable_form", form, two_factor.disable)
    if stop:
        return stop
    user = current_user.account()
    audit.record("two_factor_disabled", user=user, ip=request.remote_addr, proof=how)
    mails.two_factor_changed(user, enabled=False)
    db.session.commit()
    flash("La verificación en dos pasos quedó desactivada. Te enviamos un aviso por correo.", "success")
    return redirect(url_for("profile.two_factor_page"), code=303)


@bp.post("/dos-pasos/escritorio/<int:desk_id>")
@login_required
def desk_two_factor(desk_id):
    """A desk's owner requires (or stops requiring) two-factor sign-in of all its users."""
    desk = desk_of(current_user, desk_id)
    if desk is None:
        abort(404, "Ese escritorio no existe o no perteneces a él.")
    try:
        roles.require_in(desk.id, current_user.id, roles.MANAGE)
    except roles.RoleRefused as refused:
        abort(403, str(refused))
    form = DeskRequirementForm(prefix=f"desk{desk.id}")
    if not form.validate_on_submit():
        return _page(422, desk_form=(desk.id, form))
    if not two_factor.is_enabled(current_user):
        # Without it the owner has no code to prove the change with (nor could keep using a desk requiring it).
        return _page(409, error="Activa primero tu propia verificación en dos pasos; después podrás exigirla "
                                "a los usuarios de tu escritorio.")
    _how, stop = _prove("desk_form", form, two_factor.prove, shown=(desk.id, form))
    if stop:
        return stop
    if two_factor.set_desk_requirement(desk, form.require.data):
        audit.record("desk_two_factor_required" if desk.require_two_factor else "desk_two_factor_optional",
                     user=current_user.id, desk=desk, ip=request.remote_addr)
    db.session.commit()
    flash(f"{desk.razon_social}: " + ("todos sus usuarios deberán usar la verificación en dos pasos."
                                      if desk.require_two_factor else "la verificación en dos pasos es opcional."),
          "success")
    return redirect(url_for("profile.two_factor_page"), code=303)
