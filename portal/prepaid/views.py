"""Prepaid key pages: the activation steps, the license, the "Claves prepago" list.

Step 1 (GET/POST /activar) validates what was typed; step 2 (the "Solicitar Clave de
Confirmación" panel) carries a signed step token; step 3 (POST /activar/confirmar) claims the keys
and shows the "Aviso". With htmx each step swaps #prepaid-panel; without JS each is a full page and
a successful confirmation redirects (303) to the Aviso page.
"""
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal import audit, clock, key_codes, limits
from portal.desks import current_desk, desk_required
from portal.errors import rate_limited
from portal.extensions import db
from portal.grid import grid_response
from portal.htmx import is_htmx, render
from portal.models import PrepaidKey
from portal.postgres import reads_only
from portal.prepaid import bp
from portal.prepaid.grids import KEYS, with_default_period
from portal.prepaid.forms import MAX_KEYS_PER_REQUEST, ConfirmForm, ValidateForm
from portal.prepaid.redemption import (
    DestinationNotAllowed, EmailNotVerified, KeyAlreadyInThisDesk, LicenseNotAccepted, MalformedKey, RedemptionError,
    amount,
    canonical, confirm_key, validate_key,
)
from portal.prepaid.steps import StepTokenError, make_step_token, read_step_token

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


# --- step 1: capture and validate --------------------------------------------------------------

@bp.get("/activar")
@desk_required
def activate():
    """"Activar claves de producto prepago": capture one key, or several one per line."""
    return _capture(ValidateForm(formdata=None))


@bp.post("/activar")
@desk_required
def validate():
    """Validate each typed key; the valid ones go on to "Solicitar Clave de Confirmación"."""
    desk = current_desk()
    form = ValidateForm()
    if not form.validate_on_submit():
        return _capture(form, 422)
    typed = form.key_lines()
    if len(typed) > MAX_KEYS_PER_REQUEST:
        form.keys.errors = [f"Captura como máximo {MAX_KEYS_PER_REQUEST} claves a la vez."]
        return _capture(form, 422)
    limited = _validation_limit()
    if limited:
        audit.record("prepaid_key_validation_limited", user=current_user, desk=desk, ip=request.remote_addr)
        db.session.commit()
        return rate_limited(limited, _capture(form, error=str(limited))[0])

    lines, cut_short = [], False
    for raw in typed:
        if limited:
            lines.append(Line(_shown(raw), str(limited), "error"))
            cut_short = True
            continue
        try:
            key = validate_key(desk, raw, today=clock.today(current_app.config["TIMEZONE"]))
        except KeyAlreadyInThisDesk as refusal:
            lines.append(Line(key_codes.grouped(refusal.key.code), refusal.message, "info", refusal.key,
                              key_codes.reading_note(raw)))
        except RedemptionError as refusal:
            # Not a code at all: what its letters were read as says nothing useful.
            read_as = "" if isinstance(refusal, MalformedKey) else key_codes.reading_note(raw)
            lines.append(Line(_shown(raw), refusal.message, "error", read_as=read_as))
            limited = _count_failed_validation(desk, raw, refusal)
        else:
            lines.append(Line(key_codes.grouped(key.code), f"válida (incluye {amount(key)})", "ok", key,
                              key_codes.reading_note(raw)))
            # Mi perfil > Actividad lists it: the masked code only, as for a refused one.
            audit.record("prepaid_key_validated", user=current_user, desk=desk, ip=request.remote_addr,
                         key=key_codes.masked(key.code))
    db.session.commit()

    valid = [line.key for line in lines if line.outcome == "ok"]
    if not valid:
        if cut_short:
            return rate_limited(limited, _capture(form, lines=lines)[0])
        return _capture(form, 422 if any(line.outcome == "error" for line in lines) else 200, lines=lines)
    confirm_form = ConfirmForm(formdata=None, token=make_step_token(desk, current_user, [k.code for k in valid]))
    return _confirmation(confirm_form, lines)


def _capture(form, status=200, **context):
    return render("prepaid/activate.html", block="prepaid_panel", step="capture", form=form, **context), status


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


def _count_failed_validation(desk, raw, refusal):
    """Audit and count a failed validation; returns the Verdict if no attempts remain."""
    try:
        masked = key_codes.masked(canonical(raw))
    except RedemptionError:
        masked = None  # not a code: nothing worth keeping, and never the raw text
    audit.record("prepaid_key_validation_failed", user=current_user, desk=desk, ip=request.remote_addr,
                 reason=refusal.code, key=masked)
    for key in _limit_keys():
        try:
            limits.hit("prepaid_validation", *key)
        except limits.RateLimited:
            pass  # this failure was the last one allowed; the check below says so for the rest
    return _validation_limit()


# --- step 2: "Solicitar Clave de Confirmación" --------------------------------------------------

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
@desk_required
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
        return _capture(ValidateForm(formdata=None), 422, error=refusal.message)

    lines = []
    try:
        for code in step_codes:
            lines.append(_confirm_one(desk, user, code, form))
    except tuple(REQUEST_ERRORS) as refusal:
        db.session.rollback()
        return _confirmation(form, _validated_lines(step_codes), REQUEST_ERRORS[type(refusal)],
                             error=refusal.message, verify_email=isinstance(refusal, EmailNotVerified))
    ours = [line.key.id for line in lines if line.key is not None]
    db.session.commit()

    if not ours:
        return _done(lines, 409)
    if is_htmx():
        return _done(lines, highlight=ours)
    for line in lines:
        if line.outcome != "ok":
            flash(f"{line.shown}: {line.message}", "error" if line.outcome == "error" else "info")
    return redirect(url_for("prepaid.notice", claves=_id_list(ours)), code=303)


def _confirm_one(desk, user, code, form):
    shown = key_codes.grouped(code)
    try:
        key = confirm_key(desk, user, code, form.destination.data, form.accept_license.data,
                          today=clock.today(current_app.config["TIMEZONE"]), ip=request.remote_addr)
    except tuple(REQUEST_ERRORS):
        raise
    except KeyAlreadyInThisDesk as refusal:
        return Line(shown, refusal.message, "info", refusal.key)
    except RedemptionError as refusal:
        return Line(shown, refusal.message, "error")
    return Line(shown, f"activada (incluye {amount(key)})", "ok", key)


def _validated_lines(step_codes):
    """Step 2's list again, for a refused Confirmar."""
    keys = db.session.scalars(select(PrepaidKey).where(PrepaidKey.code.in_(step_codes)).order_by(PrepaidKey.id))
    return [Line(key_codes.grouped(key.code), f"válida (incluye {amount(key)})", "ok", key) for key in keys]


@bp.get("/activar/aviso")
@desk_required
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
    if not all(part.isascii() and part.isdigit() and int(part) <= MAX_ID for part in parts):
        return []
    return [int(part) for part in parts]


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
    return grid_response(KEYS, "prepaid/keys.html", "keys_grid", {"desk_id": desk.id},
                         args=with_default_period(request.args, clock.today(current_app.config["TIMEZONE"])),
                         cells={"highlighted": highlighted}, context={"has_keys": has_keys})


def _codes_of(desk, ids):
    """The codes of this desk's keys among `ids` (another desk's ids give nothing)."""
    if not ids:
        return frozenset()
    return frozenset(db.session.scalars(
        select(PrepaidKey.code).where(PrepaidKey.desk_id == desk.id, PrepaidKey.id.in_(ids))))
