"""Mi escritorio > Usuarios (members, roles, invitations), leaving a desk, and the e-mailed links
that accept an invitation or take over a desk's ownership.

Every change is a plain form with post/redirect/get; with htmx the answer is the page's panel
(the invitations and the list), swapped in place. Refusals show their Spanish message with their
status: 403 for a role that may not (portal/roles.py), 404 for what is not this desk's, 409 for the
last owner, 422 for a bad address, 429 for the limits.
"""
from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from portal import clock, roles
from portal.auth.views import finish_sign_in
from portal.desks import current_desk, desk_required, role_required
from portal.errors import rate_limited
from portal.extensions import db
from portal.grid import GridTemplate, grid_response
from portal.grid.http import columns_saved_for
from portal.htmx import is_htmx, redirect as hx_redirect, render
from portal.limits import RateLimited
from portal.members import bp, links, rules
from portal.members.forms import ROLE_CHOICES, InviteForm, NewAccountForm
from portal.members.grids import USERS
from portal.auth.forms import ConfirmForm
from portal.auth.signin import find_user_by_email
from portal.request_units import reads_only

PAGE = "members/users.html"


def _context(desk, **given):
    may_manage = roles.allows(desk.role, roles.MANAGE)
    context = {"invitations": rules.pending_invitations(desk.id) if may_manage else [],
               "may_manage": may_manage, "now": clock.now(), "role_label": roles.label, "role_choices": ROLE_CHOICES,
               "invite_form": given.pop("invite_form", None) or InviteForm(formdata=None)}
    context.update(given)
    return context


@bp.route("/usuarios", methods=["GET", "POST"])  # POST: "Columnas" saved
@reads_only
@desk_required
def users():
    """"Usuarios": the desk's members (a grid) and, for its owners, the pending invitations."""
    desk = current_desk()
    return grid_response(USERS, {"desk_id": desk.id}, GridTemplate(PAGE, "users_grid", context=_context(desk)))


def _panel(desk, status=200, **given):
    """The page after an action (htmx: its panel), with the list as the user last left it."""
    state = USERS.parse(MultiDict(), saved_columns=columns_saved_for(current_user, USERS.name))
    page = USERS.draw(state, desk_id=desk.id)
    page.action, page.printed_at, page.fragment = url_for("members.users"), clock.now(), False
    return render(PAGE, block="users_panel", grid=page, **_context(desk, **given)), status


def _done(message):
    db.session.commit()
    flash(message, "success")
    if is_htmx():
        return _panel(current_desk(), flashed=True)
    return redirect(url_for("members.users"), code=303)


def _refused(error, **given):
    db.session.rollback()
    status = getattr(error, "status", 409)
    if isinstance(error, RateLimited):
        body, _status = _panel(current_desk(), 429, error=str(error), **given)
        return rate_limited(error, body)
    return _panel(current_desk(), status, error=str(error), **given)


@bp.post("/usuarios/invitar")
@role_required(roles.MANAGE)
def invite():
    desk = current_desk()
    form = InviteForm()
    if not form.validate_on_submit():
        return _panel(desk, 422, invite_form=form, error="Revisa los datos de la invitación.")
    try:
        invitation = rules.invite(desk, current_user.account(), form.email.data, form.role.data,
                                  now=clock.now(), ip=request.remote_addr)
    except (rules.MemberError, roles.RoleRefused, RateLimited) as error:
        return _refused(error, invite_form=form)
    return _done(f"Enviamos la invitación a {invitation.email} como {roles.label(invitation.role)}.")


@bp.post("/usuarios/invitaciones/<int:invitation_id>/reenviar")
@role_required(roles.MANAGE)
def resend_invitation(invitation_id):
    try:
        invitation = rules.resend(current_desk().id, current_user.account(), invitation_id, now=clock.now(),
                                  ip=request.remote_addr)
    except (rules.MemberError, roles.RoleRefused, RateLimited) as error:
        return _refused(error)
    return _done(f"Reenviamos la invitación a {invitation.email}; el enlace anterior ya no sirve.")


@bp.post("/usuarios/invitaciones/<int:invitation_id>/retirar")
@role_required(roles.MANAGE)
def withdraw_invitation(invitation_id):
    try:
        email = rules.withdraw(current_desk().id, current_user.account(), invitation_id, ip=request.remote_addr)
    except (rules.MemberError, roles.RoleRefused) as error:
        return _refused(error)
    return _done(f"Retiramos la invitación a {email}: su enlace ya no sirve.")


@bp.post("/usuarios/<int:user_id>/rol")
@role_required(roles.MANAGE)
def change_role(user_id):
    # The role is the rules' to check, after the member (another desk's id is a 404 whatever it posts).
    try:
        membership = rules.change_role(current_desk().id, current_user.account(), user_id, request.form.get("role", ""),
                                       ip=request.remote_addr)
    except (rules.MemberError, roles.RoleRefused) as error:
        return _refused(error)
    return _done(f"{membership.user.email} ahora es {roles.label(membership.role)}.")


@bp.post("/usuarios/<int:user_id>/quitar")
@role_required(roles.MANAGE)
def remove(user_id):
    if user_id == current_user.id:
        return leave()
    try:
        removed = rules.remove(current_desk().id, current_user.account(), user_id, ip=request.remote_addr)
    except (rules.MemberError, roles.RoleRefused) as error:
        return _refused(error)
    return _done(f"{removed.email} ya no es usuario de este escritorio.")


@bp.post("/usuarios/<int:user_id>/ceder")
@role_required(roles.MANAGE)
def ask_handover(user_id):
    try:
        taker = rules.ask_handover(current_desk().id, current_user.account(), user_id, ip=request.remote_addr)
    except (rules.MemberError, roles.RoleRefused, RateLimited) as error:
        return _refused(error)
    return _done(f"Enviamos a {taker.email} un enlace para confirmar que será Propietario; "
                 "mientras no lo abra, nada cambia.")


@bp.post("/salir")
@desk_required
def leave():
    """The signed-in user leaves the active desk (the last owner cannot)."""
    desk = current_desk()
    try:
        rules.leave(desk.id, current_user.account(), ip=request.remote_addr)
    except rules.MemberError as error:
        return _refused(error)
    db.session.commit()
    session.pop("desk_id", None)  # the next request lands in another desk, or says there is none
    flash(f"Dejaste el escritorio {desk.razon_social}.", "success")
    return hx_redirect(url_for("core.home"))


# --- the e-mailed links ----------------------------------------------------------------------

def _link_error(message, status=400):
    db.session.rollback()
    return render_template("members/link.html", error=message), status


@bp.route("/invitacion/<secret:token>", methods=["GET", "POST"])
def invitation(token):
    """An invitation's link: join (signed in as the invited address), or create the account first.
    A GET only shows the page (a mail scanner's visit changes nothing)."""
    try:
        invitation = rules.open_invitation(*links.read_invitation(token), now=clock.now())
    except (links.LinkError, rules.MemberError) as error:
        return _link_error(str(error))
    desk = invitation.desk
    context = {"invitation": invitation, "invited_desk": desk, "role": roles.label(invitation.role), "token": token}
    existing = find_user_by_email(invitation.email)
    if current_user.is_authenticated:
        if current_user.email.lower() != invitation.email:
            return render_template("members/link.html", wrong_account=True, **context), 403
        if request.method == "POST":
            if not ConfirmForm().validate_on_submit():
                abort(400)
            try:
                rules.accept(invitation, current_user.account(), ip=request.remote_addr)
            except rules.MemberError as error:
                return _link_error(str(error), error.status)
            db.session.commit()
            session["desk_id"] = desk.id
            flash(f"Te uniste al escritorio {desk.razon_social} como {context['role']}.", "success")
            return redirect(url_for("members.users"), code=303)
        return render_template("members/link.html", join_form=ConfirmForm(), **context)
    if existing is not None:
        return render_template("members/link.html", sign_in=url_for("auth.sign_in", next=request.path), **context)
    form = NewAccountForm(email=invitation.email)
    if request.method == "POST" and form.validate_on_submit():
        try:
            user, _desk = rules.accept_as_new(invitation, rules.NewAccount(form.name.data, form.password.data),
                                              now=clock.now(), ip=request.remote_addr)
        except rules.MemberError as error:
            return _link_error(str(error), error.status)
        # Signed in as after Iniciar sesión (a fresh session, its audit event), in the desk just joined.
        response = finish_sign_in(user, False, url_for("members.users"))
        session["desk_id"] = desk.id
        flash(f"Tu cuenta quedó creada y ya eres usuario de {desk.razon_social} como {context['role']}.", "success")
        return response
    status = 422 if request.method == "POST" else 200
    return render_template("members/link.html", new_account_form=form, **context), status


@bp.route("/ceder/<secret:token>", methods=["GET", "POST"])
@login_required
def handover(token):
    """The member an owner chose confirms that they take the desk's ownership."""
    try:
        desk_id, from_id, to_id = links.read_handover(token)
    except links.LinkError as error:
        return _link_error(str(error))
    if to_id != current_user.id:
        return _link_error("Este enlace es para otra cuenta: ingresa con la cuenta a la que se envió.", 403)
    desk = rules.desk_by_id(desk_id)
    if request.method == "POST":
        if not ConfirmForm().validate_on_submit():
            abort(400)
        try:
            desk = rules.handover(desk_id, from_id, current_user.account(), ip=request.remote_addr)
        except rules.MemberError as error:
            return _link_error(str(error), error.status)
        db.session.commit()
        session["desk_id"] = desk.id
        flash(f"Ahora eres Propietario de {desk.razon_social}.", "success")
        return redirect(url_for("members.users"), code=303)
    if desk is None or rules.role_of(desk_id, from_id) != roles.OWNER or rules.role_of(desk_id, to_id) is None:
        return _link_error("Este enlace ya se usó o quien lo envió ya no es Propietario del escritorio.")
    return render_template("members/link.html", handover_desk=desk, join_form=ConfirmForm(), token=token)
