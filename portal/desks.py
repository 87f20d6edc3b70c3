"""The active desk: every query a signed-in user makes goes through it."""
from datetime import timedelta
from functools import wraps
from typing import NamedTuple

from flask import abort, current_app, flash, request, session, url_for
from flask_login import current_user, login_required
from flask_login.utils import decode_cookie
from sqlalchemy import select

from portal import roles
from portal.auth import sessions, sso, two_factor
from portal.extensions import db
from portal.column_choices import column_choices_of, parse_column_choices
from portal.htmx import redirect as hx_redirect
from portal.models import Desk, Membership, User


class ActiveDesk(NamedTuple):
    """The desk a signed-in request works in, as read with the user: its values, not the mapped
    Desk (nothing changes a desk through here; building the mapped one is most of its cost)."""
    id: int
    razon_social: str
    rfc: str
    kind: str
    require_two_factor: bool
    role: str  # the user's role in it (portal/roles.py), read with the user on every request

    @property
    def is_distributor(self):
        return self.kind == "distribuidor"


DESK_COLUMNS = (*(getattr(Desk, name) for name in ActiveDesk._fields[:-1]), Membership.role)

# Built once (composing it costs more than running it): the user, the session, every grid's saved
# columns and the chosen desk, in one statement.
USER_STATEMENT = sessions.load_statement(also=[column_choices_of(User.id), *DESK_COLUMNS])


def load_user(user_id):
    """Flask-Login loader: the id names a server-side session, so a session ended there is over
    even for a browser that kept its cookie (portal.auth.sessions). Returns the SignedIn that
    is `current_user` for this request, with its active desk and saved columns, or None."""
    chosen = session.get("desk_id")
    config = current_app.config
    # "Mantener la sesión iniciada" keeps an unused session SESSION_DAYS; otherwise
    # SESSION_IDLE_MINUTES. Remembered means this browser holds a valid remember cookie for this very
    # session (signed: a copied session cookie alone cannot claim it). None outlives SESSION_MAX_DAYS.
    remembered = decode_cookie(request.cookies.get(config["REMEMBER_COOKIE_NAME"], "")) == user_id
    idle = config["REMEMBER_COOKIE_DURATION"] if remembered else timedelta(minutes=config["SESSION_IDLE_MINUTES"])
    live = sessions.load(user_id, idle_limit=idle, max_age=timedelta(days=config["SESSION_MAX_DAYS"]),
                         # A POST holds SQLite's write lock in its own transaction: pages keep the clock.
                         touch=request.method in ("GET", "HEAD"),
                         desk_id=chosen if isinstance(chosen, int) else None,
                         statement=USER_STATEMENT)
    if live is None:
        return None
    column_choices, *desk = live.also  # read in the same statement: this request's grids need not ask
    signed_in = sessions.SignedIn(live.account, live.secret, column_choices=parse_column_choices(column_choices))
    if desk[0] is not None:
        signed_in.desk = ActiveDesk(*desk)
    else:
        # None chosen yet, or no longer the user's: the desk the user owns first (a distributor
        # lands in their own desk, not a client's), kept for the next requests.
        signed_in.desk = first_desk_of(signed_in.id)
        session["desk_id"] = signed_in.desk.id if signed_in.desk else None
    return signed_in


def desks_of(user):
    """The desks a user belongs to, by name."""
    return db.session.scalars(
        select(Desk).join(Membership).where(Membership.user_id == user.id).order_by(Desk.razon_social, Desk.id)
    ).all()


def desk_of(user, desk_id):
    """One of the user's desks, or None: the only way a desk id from a request becomes a desk."""
    return db.session.scalar(
        select(Desk).join(Membership).where(Membership.user_id == user.id, Desk.id == desk_id)
    )


def first_desk_of(user_id):
    """The ActiveDesk a user lands in: the first they own, else the first they belong to, or None."""
    row = db.session.execute(
        select(*DESK_COLUMNS).join(Membership).where(Membership.user_id == user_id)
        .order_by(Membership.role != "owner", Desk.razon_social, Desk.id).limit(1)
    ).first()
    return ActiveDesk(*row) if row else None


def current_desk():
    """The signed-in user's active desk (the session's choice if still theirs, else their first),
    read with the user (load_user); None when signed out or in no desk."""
    return current_user.desk if current_user.is_authenticated else None


def desk_required(view):
    """Sign-in required, and a desk to work in; views read it with current_desk()."""

    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        desk = current_desk()
        if desk is None:
            abort(403, "Tu cuenta no pertenece a ningún escritorio. Comunícate con tu distribuidor.")
        if desk.require_two_factor and not two_factor.is_enabled(current_user) and not sso.second_factor_checked(session.get("sso")):
            # The desk's owner requires it: the desk opens once the user has enrolled.
            flash(f"El escritorio {desk.razon_social} exige la verificación en dos pasos. "
                  "Actívala para continuar.", "warning")
            return hx_redirect(url_for("profile.two_factor_page"))
        return view(*args, **kwargs)

    return wrapper


def role_required(action):
    """desk_required, and a role in the active desk that may do `action` (portal/roles.py): a 403
    page, htmx fragment or JSON otherwise, saying who can. Read on every request with the user,
    so a role changed by an owner applies to the member's very next request."""

    def decorator(view):
        @wraps(view)
        @desk_required
        def wrapper(*args, **kwargs):
            try:
                roles.require(current_desk().role, action)
            except roles.RoleRefused as refused:
                abort(403, str(refused))
            return view(*args, **kwargs)

        return wrapper

    return decorator
