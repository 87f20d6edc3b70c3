"""Prepaid key pages: the activation steps, the license, the "Claves prepago" list.

Step 1 (GET/POST /activar) validates what was typed; step 2 (GET /activar/confirmar, "Solicitar
Clave de Confirmación") shows the validated keys with a signed step token; step 3 (POST
/activar/confirmar) claims the keys and shows the "Aviso". With htmx each POST swaps
#prepaid-panel. Without JS every POST answers 303 (post/redirect/get), so Back and reload only
ever GET: Validar to step 2's page, Confirmar to the Aviso page, a refusal to the page of its step,
which shows it once with its status (portal.prepaid.steps keeps both in the session).
"""
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal import audit, clock, key_codes, limits, metrics, roles
from portal.desks import current_desk, desk_required, role_required
from portal.errors import rate_limited
from portal.extensions import db
from portal.grid import GridTemplate, grid_response
from portal.htmx import is_htmx, render
from portal.numbers import whole_number
from portal.models import PrepaidKey
from portal.models.prepaid import code_digest
from portal.request_units import reads_only
from portal.prepaid import bp, steps
from portal.prepaid.grids import KEYS, with_default_period
from portal.prepaid.forms import MAX_KEYS_PER_REQUEST, MAX_TYPED, ConfirmForm, ValidateForm
from portal.prepaid.redemption import (
    DESTINATIONS, DestinationNotAllowed, EmailNotVerified, KeyAlreadyInThisDesk, LicenseNotAccepted, MalformedKey,
    RedemptionError, amount, canonical, confirm_key, validate_key,
)
from portal.prepaid.steps import NoHeldStep, StepConfirmed, StepTokenError, make_step_token, read_step_token

MAX_ID = 2**31 - 1  # the largest id an INTEGER column holds
LICENSE_FILE = Path(__file__).with_name("licencia.txt")
# Errors about the request as a whole (not one key): step 2 is shown again with the message.
REQUEST_ERRORS = {EmailNotVerified: 403, DestinationNotAllowed: 422, LicenseNotAccepted: 422}


@dataclass
class Line:
    """One typed key and what became of it: outcome "ok", "info" (already here) or "error"."""

    shown: str
    message: str
    outcome: str
    key: PrepaidKey | None = None
    read_as: str = ""  # "Leímos la O como cero." when look-alikes were read as digits

    def plain(self):
        """As the session keeps it: a valid key by its id, so its code stays out of the cookie."""
        if self.outcome == "ok":
            return ["ok", None, None, self.read_as, self.key.id]
        return [self.outcome, self.shown, self.message, self.read_as, None]


def _valid_line(key, read_as=""):
    return Line(key_codes.grouped(key.code), f"válida (incluye {amount(key)})", "ok", key, read_as)


def _lines_from(plain_lines):
    """Lines as Line.plain() kept them; a valid key's line is read again from its key."""
    ids = [key_id for outcome, *_, key_id in plain_lines if outcome == "ok"]
    keys = {key.id: key for key in db.session.scalars(select(PrepaidKey).where(PrepaidKey.id.in_(ids)))} if ids else {}
    return [_valid_line(keys[key_id], read_as) if outcome == "ok" else Line(shown, message, outcome, read_as=read_as)
            for outcome, shown, message, read_as, key_id in plain_lines if outcome != "ok" or key_id in keys]


def _see_step(endpoint):
    """Without JS, the answer to every POST: the page of the step to show next (post/redirect/get)."""
    return redirect(url_for(endpoint), code=303)


# --- step 1: capture and validate --------------------------------------------------------------

@bp.get("/activar")
@role_required(roles.CHANGE)
def activate():
    """"Activar claves de producto prepago": capture one key, or several one per line; without JS
    also where a refused Validar leads, showing its result once."""
    refusal = steps.take_refusal(current_desk(), current_user, "capture")
    if refusal is None:
        return _capture(ValidateForm(formdata=None))
    form = ValidateForm(formdata=None, keys=refusal["typed"])
    form.keys.errors = refusal["errors"]
    body, status = _capture(form, refusal["status"], lines=_lines_from(refusal["lines"]), error=refusal["error"])
    if refusal["limit"]:
        return rate_limited(limits.RateLimited(*refusal["limit"]), body)
    return body, status


@bp.post("/activar")
@role_required(roles.CHANGE)
def validate():
    """Validate each typed key; the valid ones go on to "Solicitar Clave de Confirmación"."""
    desk = current_desk()
    form = ValidateForm()
    if not form.validate_on_submit():
        return _refused_capture(form, 422)
    typed = form.key_lines()
    if len(typed) > MAX_KEYS_PER_REQUEST:
        form.keys.errors = [f"Captura como máximo {MAX_KEYS_PER_REQUEST} claves a la vez."]
        return _refused_capture(form, 422)
    limited = _validation_limit()
    if limited:
        metrics.KEY_VALIDATIONS.labels(outcome="limited").inc()
        audit.record("prepaid_key_validation_limited", user=current_user, desk=desk, ip=request.remote_addr)
        db.session.commit()
        return _refused_capture(form, 429, error=str(limited), limited=limited)

    lines, cut_short = [], False
    for raw in typed:
        if limited:
            metrics.KEY_VALIDATIONS.labels(outcome="limited").inc()
            lines.append(Line(_shown(raw), str(limited), "error"))
            cut_short = True
            continue
        try:
            _take_attempt()
        except limits.RateLimited as refusal:
            metrics.KEY_VALIDATIONS.labels(outcome="limited").inc()
            limited = refusal
            lines.append(Line(_shown(raw), str(limited), "error"))
            cut_short = True
            continue
        try:
            key = validate_key(desk, raw, today=clock.today(current_app.config["TIMEZONE"]))
        except KeyAlreadyInThisDesk as refusal:
            metrics.KEY_VALIDATIONS.labels(outcome="already_here").inc()
            _give_back_attempt()
            lines.append(Line(key_codes.grouped(refusal.key.code), refusal.message, "info", refusal.key,
                              key_codes.reading_note(raw)))
        except RedemptionError as refusal:
            metrics.KEY_VALIDATIONS.labels(outcome="refused").inc()
            # Not a code at all: what its letters were read as says nothing useful.
            read_as = "" if isinstance(refusal, MalformedKey) else key_codes.reading_note(raw)
            lines.append(Line(_shown(raw), refusal.message, "error", read_as=read_as))
            _record_failed_validation(desk, raw, refusal)
        else:
            metrics.KEY_VALIDATIONS.labels(outcome="valid").inc()
            _give_back_attempt()
            lines.append(_valid_line(key, key_codes.reading_note(raw)))
            # Mi perfil > Actividad lists it: the masked code only, as for a refused one.
            audit.record("prepaid_key_validated", user=current_user, desk=desk, ip=request.remote_addr,
                         key=key_codes.masked(key.code))
    db.session.commit()

    valid = [line.key for line in lines if line.outcome == "ok"]
    if not valid:
        if cut_short:
            return _refused_capture(form, 429, lines=lines, limited=limited)
        return _refused_capture(form, 422 if any(line.outcome == "error" for line in lines) else 200, lines=lines)
    steps.hold(desk, current_user, [key.id for key in valid], [line.plain() for line in lines])
    if not is_htmx():
        return _see_step("prepaid.confirmation")
    confirm_form = ConfirmForm(formdata=None, token=make_step_token(desk, current_user, [k.code for k in valid]))
    return _confirmation(confirm_form, lines)


def _capture(form, status=200, **context):
    return render("prepaid/activate.html", block="prepaid_panel", step="capture", form=form, **context), status


def _refused_capture(form, status, lines=(), error=None, limited=None):
    """Step 1 again with what went wrong: with htmx the panel now; without JS kept for its page."""
    if is_htmx():
        body, status = _capture(form, status, lines=lines, error=error)
        return rate_limited(limited, body) if limited else (body, status)
    typed = form.keys.data or ""
    steps.keep_refusal(current_desk(), current_user, "capture", status=status, error=error,
                       lines=[line.plain() for line in lines], errors=list(form.keys.errors),
                       typed=typed if len(typed) <= MAX_TYPED else "",  # a session cookie holds a few KB
                       limit=[limited.name, limited.retry_after, limited.storage_down] if limited else None)
    return _see_step("prepaid.activate")


def _shown(raw):
    """How a typed line is echoed back: the grouped code when it is one, else what was typed, cut short."""
    try:
        return key_codes.grouped(canonical(raw))
    except RedemptionError:
        return raw if len(raw) <= 24 else raw[:23] + "…"


def _limit_keys():
    return [("user", str(current_user.id)), ("ip", request.remote_addr or "desconocida")]


def _validation_limit():
    """The RateLimited of the first exhausted limit (per user, per IP), or None while attempts remain."""
    try:
        for key in _limit_keys():
            limits.check("prepaid_validation", *key)
    except limits.RateLimited as limited:
        return limited
    return None


def _take_attempt():
    """Count one validation before its lookup; RateLimited (counting nothing) when none remain.

    Counted first (hit-then-check), so requests racing on one user or address cannot all pass a
    test made before any of them counted: no more lookups fail than the limit allows.
    """
    taken = []
    try:
        for key in _limit_keys():
            limits.hit("prepaid_validation", *key)
            taken.append(key)
    except limits.RateLimited:
        for key in taken:
            limits.refund("prepaid_validation", *key)
        raise


def _give_back_attempt():
    """A lookup that found a usable key does not count against the failures allowed."""
    for key in _limit_keys():
        limits.refund("prepaid_validation", *key)


def _record_failed_validation(desk, raw, refusal):
    """Audit a failed validation (already counted by _take_attempt)."""
    try:
        masked = key_codes.masked(canonical(raw))
    except RedemptionError:
        masked = None  # not a code: nothing worth keeping, and never the raw text
    audit.record("prepaid_key_validation_failed", user=current_user, desk=desk, ip=request.remote_addr,
                 reason=refusal.code, key=masked)


# --- step 2: "Solicitar Clave de Confirmación" --------------------------------------------------

@bp.get("/activar/confirmar")
@role_required(roles.CHANGE)
def confirmation():
    """Step 2's page (Validar leads here without JS): the keys this browser validated in this desk,
    as often as it is shown; without them, back to step 1 saying why."""
    desk = current_desk()
    refusal = steps.take_refusal(desk, current_user, "confirm", "done") or {}
    if refusal.get("page") == "done":
        return _done(_lines_from(refusal["lines"]), refusal["status"])
    try:
        step = steps.held(desk, current_user)
    except StepTokenError as missing:
        flash(missing.message, "info" if isinstance(missing, StepConfirmed) else "error")
        return _see_step("prepaid.activate")
    lines = _lines_from(step["lines"])
    step_codes = [line.key.code for line in lines if line.outcome == "ok"]
    if not step_codes:  # the keys themselves are gone
        steps.drop()
        flash(NoHeldStep.message, "error")
        return _see_step("prepaid.activate")
    form = ConfirmForm(formdata=None, token=make_step_token(desk, current_user, step_codes, issued_at=step["at"]),
                       destination=refusal.get("destination") or "mi_negocio", accept_license=refusal.get("accept"))
    return _confirmation(form, lines, refusal.get("status", 200), error=refusal.get("error"),
                         verify_email=refusal.get("verify_email", False))


def _confirmation(form, lines, status=200, error=None, verify_email=False):
    return render("prepaid/activate.html", block="prepaid_panel", step="confirm", form=form, lines=lines,
                  error=error, verify_email=verify_email), status


@bp.get("/licencia")
@desk_required
def license_text():
    """The "Licencia de Uso": its own page, or with htmx the modal over step 2."""
    return render("prepaid/license.html", block="license_modal", paragraphs=_license_paragraphs())


@cache
def _license_paragraphs():
    text = LICENSE_FILE.read_text(encoding="utf-8")
    return [paragraph.strip() for paragraph in text.split("\n\n") if paragraph.strip()]


# --- step 3: Confirmar, then the "Aviso" -------------------------------------------------------

@bp.post("/activar/confirmar")
@role_required(roles.CHANGE)
def confirm():
    """Claim each key of the step token for this desk, exactly once, and show the "Aviso"."""
    desk = current_desk()
    user = current_user._get_current_object()
    form = ConfirmForm()
    try:
        if not form.validate_on_submit():
            raise StepTokenError()
        step_codes = read_step_token(form.token.data, desk, user)
    except StepTokenError as refusal:
        audit.record("prepaid_step_token_refused", user=user, desk=desk, ip=request.remote_addr,
                     reason=type(refusal).__name__)
        db.session.commit()
        return _refused_capture(ValidateForm(formdata=None), 422, error=refusal.message)

    lines = []
    try:
        for code in step_codes:
            lines.append(_confirm_one(desk, user, code, form))
    except tuple(REQUEST_ERRORS) as refusal:
        db.session.rollback()
        status, verify_email = REQUEST_ERRORS[type(refusal)], isinstance(refusal, EmailNotVerified)
        if is_htmx():
            return _confirmation(form, _validated_lines(step_codes), status, error=refusal.message,
                                 verify_email=verify_email)
        steps.keep_refusal(desk, user, "confirm", status=status, error=refusal.message, verify_email=verify_email,
                           accept=bool(form.accept_license.data),
                           destination=form.destination.data if form.destination.data in DESTINATIONS else None)
        return _see_step("prepaid.confirmation")
    ours = [line.key.id for line in lines if line.key is not None]
    db.session.commit()
    steps.close(desk, user, _ids_of(step_codes), confirmed=bool(ours))

    if is_htmx():
        return _done(lines, 200 if ours else 409, highlight=ours)
    if not ours:
        steps.keep_refusal(desk, user, "done", status=409, lines=[line.plain() for line in lines])
        return _see_step("prepaid.confirmation")
    for line in lines:
        if line.outcome != "ok":
            flash(f"{line.shown}: {line.message}", "error" if line.outcome == "error" else "info")
    return redirect(url_for("prepaid.notice", claves=_id_list(ours)), code=303)


def _confirm_one(desk, user, code, form):
    shown = key_codes.grouped(code)
    try:
        key = confirm_key(desk, user, code, form.destination.data, form.accept_license.data,
                          today=clock.today(current_app.config["TIMEZONE"]), ip=request.remote_addr)
    except tuple(REQUEST_ERRORS) as refusal:
        metrics.KEY_CONFIRMATIONS.labels(outcome=metrics.outcome_of(refusal)).inc()
        raise
    except KeyAlreadyInThisDesk as refusal:
        metrics.KEY_CONFIRMATIONS.labels(outcome="already_here").inc()
        return Line(shown, refusal.message, "info", refusal.key)
    except RedemptionError as refusal:
        metrics.KEY_CONFIRMATIONS.labels(outcome="refused").inc()
        return Line(shown, refusal.message, "error")
    metrics.KEY_CONFIRMATIONS.labels(outcome="confirmed").inc()
    return Line(shown, f"activada (incluye {amount(key)})", "ok", key)


def _ids_of(step_codes):
    return db.session.scalars(select(PrepaidKey.id).where(
        PrepaidKey.code_digest.in_([code_digest(code) for code in step_codes]))).all()


def _validated_lines(step_codes):
    """Step 2's list again, for a refused Confirmar."""
    keys = db.session.scalars(select(PrepaidKey).where(
        PrepaidKey.code_digest.in_([code_digest(code) for code in step_codes])).order_by(PrepaidKey.id))
    return [_valid_line(key) for key in keys]


@bp.get("/activar/aviso")
@role_required(roles.CHANGE)
def notice():
    """The "Aviso" after Confirmar without JS (303 target): this desk's keys just confirmed."""
    ids = _parse_ids(request.args.get("claves", ""))
    keys = db.session.scalars(
        select(PrepaidKey).where(PrepaidKey.desk_id == current_desk().id, PrepaidKey.id.in_(ids)).order_by(PrepaidKey.id)
    ).all() if ids else []
    if not keys:
        abort(404)
    lines = [Line(key_codes.grouped(key.code), f"activada el {key.confirmed_on:%d/%m/%Y} (incluye {amount(key)})", "ok", key)
             for key in keys]
    return _done(lines, highlight=[key.id for key in keys])


def _done(lines, status=200, highlight=()):
    return render("prepaid/activate.html", block="prepaid_panel", step="done", lines=lines,
                  highlight=_id_list(highlight)), status


def _id_list(ids):
    return ",".join(str(i) for i in ids)


def _parse_ids(raw, limit=MAX_KEYS_PER_REQUEST):
    """Key ids from "12,13" (at most `limit`); anything else is no id at all."""
    parts = [part for part in raw.split(",") if part][:limit]
    # ASCII digits only ("²" is a digit to str.isdigit, not to int), and no larger than an id can be.
    ids = [whole_number(part, MAX_ID) for part in parts]
    return [] if None in ids else ids


# --- "Claves prepago" ----------------------------------------------------------------------------

@bp.route("", methods=["GET", "POST"])  # POST: "Columnas" saved
@reads_only
@desk_required
def keys():
    """"Claves prepago": the desk's keys by contract date (the last two months unless chosen), a grid."""
    desk = current_desk()
    # The date filter is always on, so the grid cannot tell an empty desk from an empty period.
    # Only the whole page asks (the swapped block never shows the empty desk): a fragment skips it.
    has_keys = is_htmx() or db.session.scalar(select(PrepaidKey.id).where(PrepaidKey.desk_id == desk.id).limit(1)) is not None
    highlighted = _codes_of(desk, _parse_ids(request.args.get("resaltar", "")))
    return grid_response(KEYS, {"desk_id": desk.id},
                         GridTemplate("prepaid/keys.html", "keys_grid", context={"has_keys": has_keys},
                                      cells={"highlighted": highlighted}),
                         args=with_default_period(request.args, clock.today(current_app.config["TIMEZONE"])))


def _codes_of(desk, ids):
    """The codes of this desk's keys among `ids` (another desk's ids give nothing)."""
    if not ids:
        return frozenset()
    return frozenset(db.session.scalars(
        select(PrepaidKey.shown_code).where(PrepaidKey.desk_id == desk.id, PrepaidKey.id.in_(ids))))
