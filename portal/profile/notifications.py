"""Mi perfil > Notificaciones: which alerts the user wants in the active desk; and the page an
alert mail's unsubscribe link opens, which changes nothing until its button is pressed."""
from flask import flash, redirect, request, url_for
from flask_login import current_user

from portal import audit
from portal.alerts import preferences, unsubscribe as links
from portal.auth.forms import ConfirmForm
from portal.desks import current_desk, desk_required
from portal.extensions import db
from portal.htmx import is_htmx, render
from portal.models import Desk
from portal.profile import bp
from portal.profile.forms import NotificationsForm

PAGE = "profile/notifications.html"
GROUPS = ("payments", "validity", "expiring_keys", "low_stamps")


def _form(preference):
    form = NotificationsForm(formdata=None, obj=preference)
    form.threshold.data = "" if preference.stamp_threshold is None else str(preference.stamp_threshold)
    return form


@bp.get("/notificaciones")
@desk_required
def notifications():
    """"Mi perfil > Notificaciones" for the active desk."""
    desk = current_desk()
    return render(PAGE, form=_form(preferences.preference_of(current_user.id, desk.id)), desk=desk)


@bp.post("/notificaciones")
@desk_required
def save_notifications():
    """Save the user's alerts and threshold for the active desk."""
    desk = current_desk()
    form = NotificationsForm()
    if not form.validate_on_submit():
        return render(PAGE, block="notifications_form", form=form, desk=desk,
                      error="Revisa los datos marcados."), 422
    if preferences.save_preferences(current_user.id, desk.id, threshold=form.threshold_number(),
                                    **{name: form[name].data for name in GROUPS}):
        audit.record("alert_preferences_changed", user=current_user.id, desk=desk, ip=request.remote_addr)
    db.session.commit()
    message = f"Tus avisos de {desk.razon_social} se guardaron."
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for("profile.notifications"), code=303)
    return render(PAGE, block="notifications_form", desk=desk, notice=message,
                  form=_form(preferences.preference_of(current_user.id, desk.id)))


@bp.route("/notificaciones/baja/<secret:token>", methods=["GET", "POST"])
def unsubscribe(token):
    """The link at the foot of every alert mail: a page with one button, then that alert is off."""
    try:
        user_id, desk_id, group = links.read(token)
    except links.LinkInvalid as error:
        return render("profile/unsubscribe.html", error=str(error)), 400
    desk = db.session.get(Desk, desk_id)
    form = ConfirmForm()
    context = {"form": form, "what": links.GROUPS[group], "desk_name": desk.razon_social if desk else ""}
    if not form.validate_on_submit():
        return render("profile/unsubscribe.html", **context)
    try:
        preferences.unsubscribe(user_id, desk_id, group)
    except preferences.NotAMember as error:
        return render("profile/unsubscribe.html", error=str(error)), 404
    audit.record("alerts_unsubscribed", user=user_id, desk=desk_id, ip=request.remote_addr)
    db.session.commit()
    return render("profile/unsubscribe.html", done=True, **context)
