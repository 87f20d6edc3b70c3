"""The mails of the alerts one run raised: written from that run's rows, in its transaction.

Each goes to the desk's members who still want that kind of alert (no preference row: yes) and
verified their address. Links start with PORTAL_URL like every mail's (portal.urls.public_url),
and every mail ends with its signed unsubscribe link.
"""
from datetime import date
from itertools import groupby

from sqlalchemy import and_, func, or_, select, true

from portal.alerts import unsubscribe
from portal.alerts.forecast import forecasts
from portal.extensions import db
from portal.mail.outbox import enqueue_many
from portal.models import Alert, AlertPreference, Desk, Membership, PrepaidKey, Product, Service, User
from portal.models.services import CATEGORIES
from portal.key_codes import masked
from portal.urls import public_url

PAYMENT_KINDS = ("payment_7", "payment_1")
VALIDITY_KINDS = ("validity_30", "validity_7")
DIGEST_KEYS = 50  # listed in a keys digest; the rest are counted
ITEM_NAMES = {"polizas": "póliza", "servidor-virtual": "servidor virtual", "espacio": "espacio", "cursos": "curso"}


def write_mails(batch, today, store_url, tz_name):
    """Enqueue the mails of the alerts of `batch`; returns how many."""
    links = _Links()
    return (_service_mails(batch, today, store_url, links) + _key_digests(batch, today, links)
            + _stamp_mails(batch, today, store_url, tz_name, links))


def in_days(due, today):
    """"hoy", "mañana", "en 7 días": when, in a sentence."""
    days = (due - today).days
    return "hoy" if days <= 0 else "mañana" if days == 1 else f"en {days} días"


class _Links:
    """The links of a run's mails, each built once: a category page, a user's unsubscribe link per desk and group."""

    def __init__(self):
        self.tokens = {}
        self.pages = {}
        self.preferences = public_url("profile.notifications")

    def category(self, category):
        if category not in self.pages:
            self.pages[category] = public_url("services.category", category=category)
        return self.pages[category]

    def unsubscribe(self, user_id, desk_id, group):
        key = (user_id, desk_id, group)
        if key not in self.tokens:
            token = unsubscribe.issue(user_id, desk_id, group)
            self.tokens[key] = public_url("profile.unsubscribe", token=token)
        return self.tokens[key]


def _recipients(query, desk_id, *wanted):
    """`query` joined to the desk's verified members whose preferences allow one of `wanted`."""
    return (query.join(Membership, Membership.desk_id == desk_id)
            .join(User, User.id == Membership.user_id)
            .outerjoin(AlertPreference, and_(AlertPreference.user_id == User.id,
                                             AlertPreference.desk_id == desk_id))
            .where(User.email_verified_at.is_not(None), or_(*wanted)))


def _wants(kinds, column):
    return and_(Alert.kind.in_(kinds), func.coalesce(column, true()))


def _service_mails(batch, today, store_url, links):
    query = (select(Alert.kind, Alert.period, Alert.desk_id, Desk.razon_social, Service.id, Service.category,
                    Service.name, Service.serial, Service.version, Product.name.label("product"),
                    User.id.label("user_id"), User.email, User.name.label("user_name"))
             .join(Service, Service.id == Alert.subject_id)
             .outerjoin(Product, Product.id == Service.product_id)
             .join(Desk, Desk.id == Alert.desk_id)
             .where(Alert.batch == batch, Alert.kind.in_(PAYMENT_KINDS + VALIDITY_KINDS)))
    query = _recipients(query, Alert.desk_id, _wants(PAYMENT_KINDS, AlertPreference.payments),
                        _wants(VALIDITY_KINDS, AlertPreference.validity))
    mails = []
    for row in db.session.execute(query.order_by(Alert.id, User.id)):
        due = _date(row.period)
        payment = row.kind in PAYMENT_KINDS
        what = row.product or row.name if payment else row.name
        if payment:
            subject = f"Próximo pago de {what} (No. Serie {row.serial}): {due:%d/%m/%Y}"
        else:
            subject = f"Tu {ITEM_NAMES[row.category]} «{what}» vence el {due:%d/%m/%Y}"
        mails.append((row.email, subject, "alert_payment" if payment else "alert_validity", dict(
            kind=f"alert_{row.kind}", desk=row.desk_id, user=row.user_id, service=row.id,
            name=row.user_name, what=what, version=row.version, serial=row.serial, due=due,
            when=in_days(due, today), item=ITEM_NAMES.get(row.category), desk_name=row.razon_social,
            page=links.category(row.category), category=CATEGORIES[row.category], store_url=store_url,
            preferences=links.preferences,
            unsubscribe=links.unsubscribe(row.user_id, row.desk_id, "payments" if payment else "validity"))))
    return enqueue_many(mails)


def _key_digests(batch, today, links):
    """One mail per desk and member with every key of the run about to expire unused."""
    query = (select(Alert.desk_id, Alert.period, Desk.razon_social, PrepaidKey.shown_code.label("code"),
                    PrepaidKey.quantity,
                    PrepaidKey.unit, User.id.label("user_id"), User.email, User.name.label("user_name"))
             .join(PrepaidKey, PrepaidKey.id == Alert.subject_id)
             .join(Desk, Desk.id == Alert.desk_id)
             .where(Alert.batch == batch, Alert.kind == "keys_expiring"))
    query = _recipients(query, Alert.desk_id, func.coalesce(AlertPreference.expiring_keys, true()))
    rows = db.session.execute(query.order_by(Alert.desk_id, User.id, Alert.period, PrepaidKey.id))
    mails = []
    for (desk_id, user_id), group in groupby(rows, key=lambda row: (row.desk_id, row.user_id)):
        keys = list(group)
        first = keys[0]
        listed = [(masked(k.code), f"{k.quantity} {k.unit}", _date(k.period)) for k in keys[:DIGEST_KEYS]]
        count = len(keys)
        subject = (f"{count} claves de prepago vencen sin usarse en los próximos 30 días" if count > 1
                   else "1 clave de prepago vence sin usarse en los próximos 30 días")
        mails.append((first.email, subject, "alert_keys", dict(
            kind="alert_keys_expiring", desk=desk_id, user=user_id, name=first.user_name,
            desk_name=first.razon_social, keys=listed, more=count - len(listed), count=count,
            page=public_url("prepaid.keys", estatus="disponible"),
            preferences=links.preferences, unsubscribe=links.unsubscribe(user_id, desk_id, "expiring_keys"))))
    return enqueue_many(mails)


def _stamp_mails(batch, today, store_url, tz_name, links):
    """The user whose threshold the balance fell under, with the forecast of the desk."""
    of_batch = select(Alert.desk_id).where(Alert.batch == batch, Alert.kind == "stamps_low")
    rows = db.session.execute(
        select(Alert.desk_id, Desk.razon_social, AlertPreference.stamp_threshold,
               User.id.label("user_id"), User.email, User.name.label("user_name"))
        .join(AlertPreference, AlertPreference.id == Alert.subject_id)
        .join(User, User.id == AlertPreference.user_id)
        .join(Membership, and_(Membership.user_id == User.id, Membership.desk_id == Alert.desk_id))
        .join(Desk, Desk.id == Alert.desk_id)
        .where(Alert.batch == batch, Alert.kind == "stamps_low", User.email_verified_at.is_not(None))
        .order_by(Alert.id)
    ).all()
    if not rows:
        return 0
    paces = forecasts(of_batch, today, tz_name)
    mails = []
    for row in rows:
        pace = paces.get(row.desk_id)
        mails.append((row.email, f"Tu saldo de timbres está por debajo de {row.stamp_threshold:,}", "alert_stamps", dict(
            kind="alert_stamps_low", desk=row.desk_id, user=row.user_id, name=row.user_name,
            desk_name=row.razon_social, threshold=row.stamp_threshold,
            available=pace.available if pace else 0, days=pace.days if pace else None, store_url=store_url,
            page=links.category("sellado-cfdi"), preferences=links.preferences,
            unsubscribe=links.unsubscribe(row.user_id, row.desk_id, "low_stamps"))))
    return enqueue_many(mails)


def _date(period):
    return date.fromisoformat(period)
