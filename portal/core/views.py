"""Home, the desk selector, the privacy notice and the favicon (the probes: portal/core/health.py)."""
from pathlib import Path

from flask import abort, current_app, redirect, render_template, request, send_from_directory, session, url_for
from flask_login import current_user, login_required

from portal.core import bp
from portal.core.privacy import sections
from portal.desks import desk_of
from portal.numbers import whole_number
from portal.urls import safe_next


MAX_ID = 2**31 - 1  # the largest id an INTEGER column holds


@bp.get("/")
def home():
    """The portal's front door: the services list when signed in, sign-in otherwise."""
    if current_user.is_authenticated:
        return redirect(url_for("services.category", category="suscripciones"))
    return redirect(url_for("auth.sign_in"))


@bp.post("/escritorio")
@login_required
def switch_desk():
    """Make another of the user's desks the active one; someone else's desk is a 404."""
    desk_id = whole_number(request.form.get("desk_id", ""), MAX_ID)
    if not desk_id:  # no desk has it, and the database could not even compare a larger one
        abort(400, "Selecciona un escritorio válido.")
    desk = desk_of(current_user, desk_id)
    if desk is None:
        abort(404)
    session["desk_id"] = desk.id
    return redirect(safe_next(request.form.get("next")) or url_for("core.home"), code=303)


@bp.get("/aviso-de-privacidad")
def privacy():
    """The aviso de privacidad: PRIVACY_NOTICE_FILE's text, or the portal's own (signed in or not)."""
    path = current_app.config["PRIVACY_NOTICE_FILE"]
    notice = sections(Path(path).read_text(encoding="utf-8")) if path else None
    return render_template("core/privacy.html", notice=notice)


@bp.get("/favicon.ico")
def favicon():
    """The icon browsers ask for at the portal's root (its prefix included), served from static/."""
    return send_from_directory(current_app.static_folder, "favicon.ico", max_age=7 * 24 * 3600)
