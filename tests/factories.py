"""Factories for desks, users, services and keys; each commits so other processes see it."""
import itertools
import secrets
from dataclasses import dataclass
from datetime import timedelta

from portal.auth.passwords import hash_password
from portal.extensions import db
from portal.models import Client, Desk, Membership, PrepaidKey, Product, Service, User
from portal import clock, key_codes
from tests.clock_helpers import TIMEZONE

PASSWORD = "clave-de-prueba-9"
_seq = itertools.count(1)


def _n():
    return next(_seq)


def today():
    """The portal's today, which the test set (tests/clock_helpers.py): every default date counts from it."""
    return clock.today(TIMEZONE)


def rfc(prefix="TST"):
    """A valid company RFC, unique within the run."""
    n = _n()
    return f"{prefix[:3]}{20 + n // 336 % 70:02d}{n // 28 % 12 + 1:02d}{n % 28 + 1:02d}{secrets.choice('ABCDEFGHJK')}{n % 10}{n // 10 % 10}"


def desk(kind="cliente", razon_social=None, **extra):
    d = Desk(razon_social=razon_social or f"Empresa de Prueba {_n()} S.A. de C.V.", rfc=extra.pop("rfc", None) or rfc(),
             kind=kind, **extra)
    db.session.add(d)
    db.session.commit()
    return d


def user(desk=None, email=None, password=PASSWORD, verified=True, role="owner", name=None):
    u = User(email=email or f"usuario{_n()}@empresa{_n()}.com.mx", name=name or "Usuaria de Prueba", phone="55 1234 5678",
             password_hash=hash_password(password),
             email_verified_at=clock.now() if verified else None)
    db.session.add(u)
    if desk is not None:
        db.session.add(Membership(user=u, desk=desk, role=role))
    db.session.commit()
    return u


def product(code="SAE"):
    p = db.session.query(Product).filter_by(code=code).one_or_none()
    if p is None:
        p = Product(code=code, name=f"Aspel {code}")
        db.session.add(p)
        db.session.commit()
    return p


def service(desk, category="suscripciones", product_code="SAE", acquisition="electronica", **extra):
    values = dict(desk_id=desk.id, category=category, product=product(product_code), version="9.0", users=5,
                  serial=f"{product_code}{_n():09d}", cda=f"CDA-{secrets.token_hex(8).upper()}",
                  acquisition=acquisition, activated_on=today() - timedelta(days=600))
    if category == "suscripciones":
        # Past the week in which the list says "Vence en N días".
        values["next_payment_on"] = today() + timedelta(days=30)
    values.update(extra)
    s = Service(**values)
    db.session.add(s)
    db.session.commit()
    return s


def prepaid_key(desk=None, status=None, quantity=50, unit="Timbres", client=None, confirmed_on=None, **extra):
    """A key: `nueva` with no desk, or already in `desk` (disponible, or utilizada with a client)."""
    values = dict(code=key_codes.generate(), quantity=quantity, unit=unit, status=status or ("disponible" if desk else "nueva"))
    if desk is not None:
        values.update(desk_id=desk.id, confirmed_on=confirmed_on or today() - timedelta(days=7),
                      confirmed_at=clock.now(), destination="distribuidor")
    if values["status"] == "utilizada":
        values.setdefault("activated_on", (values.get("confirmed_on") or today() - timedelta(days=7)) + timedelta(days=1))
        if client is not None:
            values["client_id"] = client.id
    values.update(extra)
    k = PrepaidKey(**values)
    db.session.add(k)
    db.session.commit()
    return k


def client(desk, razon_social=None, client_rfc=None):
    c = Client(desk_id=desk.id, rfc=client_rfc or rfc("CLI"), razon_social=razon_social or f"Cliente {_n()}")
    db.session.add(c)
    db.session.commit()
    return c


@dataclass
class Party:
    desk: Desk
    user: User


@dataclass
class TwoDesks:
    a: Party
    b: Party


def two_desks(kind_a="distribuidor", kind_b="cliente"):
    """Two unrelated desks, each with its owner: the second must never see the first's data."""
    da, db_ = desk(kind_a), desk(kind_b)
    return TwoDesks(Party(da, user(da)), Party(db_, user(db_)))
