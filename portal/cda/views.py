"""Reenviar CDA (the button and its "Aspel notifica" modal) and Envíos de CDA."""
from flask import abort, flash, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block
from markupsafe import Markup

from portal import metrics
from portal.cda import bp
from portal.cda.forms import ResendForm
from portal.cda.resend import (EmailNotVerified, NoCdaOnFile, PhysicalCopy, ResendRefused, TooManyResends,
                               find_system, latest_send, recent_sends, resend_cda)
from portal import roles
from portal.desks import current_desk, desk_required, role_required
from portal.errors import rate_limited
from portal.extensions import db
from portal.htmx import is_htmx, redirect, render
from portal.request_units import reads_only
from portal.urls import safe_next, with_param

NOTICE = "cda/notice.html"
# Why it was not sent -> what the modal explains, and the status that says so.
REFUSALS = {
    PhysicalCopy: ("physical", 409),
    NoCdaOnFile: ("no_cda", 409),
    EmailNotVerified: ("unverified", 403),
    TooManyResends: ("limited", 429),
}


@bp.post("/<serial>/reenviar-cda")
@role_required(roles.CHANGE)
def resend(serial):
    """Queue the system's CDA to the account's e-mail and answer with the "Aspel notifica" notice."""
    desk = current_desk()
    service = find_system(desk, serial) or abort(404)
    form = ResendForm()
    back = safe_next(form.next.data) or url_for("services.category", category=service.category)
    try:
        message = resend_cda(service, current_user._get_current_object(), desk, request.remote_addr)
    except ResendRefused as refusal:
        metrics.CDA_RESENDS.labels(outcome=metrics.outcome_of(refusal)).inc()
        return _refused(refusal, service, desk, back)
    metrics.CDA_RESENDS.labels(outcome="sent").inc()
    db.session.flush()  # the message gets its defaults (status "pendiente")
    # Read before the commit expires it: reloading the message would fetch its body (the CDA).
    notice = dict(outcome="sent", service=service, recipient=message.recipient, status=message.status)
    sent_id = message.id
    db.session.commit()
    if is_htmx():
        return render(NOTICE, block="cda_modal", in_page=False, **notice)
    # Without JavaScript: back to the grid page, where the layout shows the notice open. The address
    # names the send (?aviso=<id>): a 303 to the very URL the browser shows is not fetched again by
    # some browsers (elinks), which would never show the notice.
    flash(Markup(render_block(NOTICE, "cda_modal", in_page=True, **notice)), "modal")
    return redirect(with_param(back, "aviso", sent_id))


def _refused(refusal, service, desk, back):
    """The notice explaining why nothing was sent: a modal for htmx, a page with it open otherwise."""
    outcome, status = REFUSALS[type(refusal)]
    latest = latest_send(desk, service) if isinstance(refusal, TooManyResends) else None
    html = render(NOTICE, block="cda_modal", in_page=not is_htmx(), outcome=outcome, service=service,
                  refusal=refusal, latest=latest, back=back)
    if isinstance(refusal, TooManyResends):
        return rate_limited(refusal, html)
    return html, status


@bp.get("/<serial>/envios-cda")
@reads_only
@desk_required
def history(serial):
    """Envíos de CDA: when the system's CDA was e-mailed, to which address, and whether it left."""
    desk = current_desk()
    service = find_system(desk, serial) or abort(404)
    return render("cda/history.html", block="cda_history", service=service, sends=recent_sends(desk, service))
