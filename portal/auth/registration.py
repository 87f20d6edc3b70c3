"""Crear cuenta: the rules, apart from HTTP.

Whatever happens, the person registering sees the same answer ("revisa tu correo"): the page
never says whether an e-mail or an RFC already has an account. What differs is the e-mail:

- a new e-mail and a new RFC: the user, a `cliente` desk they own, and a verification link;
- an e-mail that already has an account: nothing is created; that address is told someone tried
  (with links to sign in or reset the password) — its owner, and only they, learn it;
- a new e-mail with an RFC that already has a desk: the account is created *without* a desk
  (a desk is one company: a stranger must not join it by typing its RFC) and the e-mail, besides
  the verification link, says to ask the desk's administrator to add them. Only someone who
  controls that mailbox learns the RFC is registered.
"""
import enum
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from portal.auth.passwords import check_new_password, hash_password
from portal.auth.signin import find_user_by_email
from portal.extensions import db
from portal.models import Desk, Membership, User


class Outcome(enum.Enum):
    CREATED = "created"
    EMAIL_TAKEN = "email_taken"
    RFC_TAKEN = "rfc_taken"


@dataclass
class Application:
    """What the "Crear cuenta" form captured, already cleaned."""

    razon_social: str
    rfc: str
    name: str
    phone: str
    email: str
    password: str


@dataclass
class Registration:
    outcome: Outcome
    user: User  # the new user, or the existing owner of the e-mail
    desk: Desk | None = None


def register(application):
    """Create the account (and its desk when the RFC is new); never tells the caller what existed."""
    check_new_password(application.password, application.email)
    existing = find_user_by_email(application.email)
    with db.session.begin_nested() as account_writes:
        if existing is None:
            return _create_account(application, application.email)
        # An existing e-mail does the same work as a sign-up (the hash, the same inserts under a
        # throwaway address), then undoes it: the answer's timing tells nothing either.
        _create_account(application, f"{secrets.token_hex(8)}@registro.invalid")
        account_writes.rollback()
    return Registration(Outcome.EMAIL_TAKEN, existing)


def _create_account(application, email):
    user = User(email=email, name=application.name, phone=application.phone,
                password_hash=hash_password(application.password))
    db.session.add(user)
    if db.session.scalar(select(Desk.id).where(Desk.rfc == application.rfc)) is not None:
        db.session.flush()
        return Registration(Outcome.RFC_TAKEN, user)

    desk = Desk(razon_social=application.razon_social, rfc=application.rfc, kind="cliente")
    db.session.add_all([desk, Membership(user=user, desk=desk, role="owner")])
    db.session.flush()
    return Registration(Outcome.CREATED, user, desk)
