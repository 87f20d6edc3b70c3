"""What the vendor's back office may do: upsert desks and services, issue and revoke keys, report use.

Each rule takes plain values (a body already decoded from JSON or a CSV row), validates it against
the schema in portal.backoffice.schemas and the rules JSON Schema cannot express, changes the
session and returns what happened; the caller commits. Errors are InvalidInput (422), NotFound
(404) or Conflict (409), each with a Spanish message.
"""
import re
import secrets
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select

from portal.auth.validation import clean_email
from portal.backoffice import welcome
from portal.rfc import normalise_rfc
from portal.backoffice.schemas import STAMP_USE_PREFIX, InvalidInput, validate
from portal.extensions import db
from portal.models import Desk, Membership, PrepaidKey, Product, Service, StampMovement, User
from portal import clock
from portal.models.prepaid import code_digest
from portal.models.services import SYSTEM_CATEGORIES
from portal import key_codes
from portal.prepaid import redemption
from portal.services.stamps import record_stamp_use, stamp_balance

# The catalogue of PRODUCT.md §1: a code the back office names is created on first use.
CATALOGUE = {"SAE": "Aspel SAE", "COI": "Aspel COI", "NOI": "Aspel NOI", "CAJA": "Aspel CAJA",
             "FACTURE": "Aspel FACTURE", "BANCO": "Aspel BANCO", "PROD": "Aspel PROD", "ADM": "Aspel ADM"}
SERVICE_FIELDS = ("category", "name", "version", "users", "acquisition", "activated_on", "next_payment_on",
                  "plan", "capacity", "valid_from", "valid_until", "status")
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATE_FIELDS = ("activated_on", "next_payment_on", "valid_from", "valid_until", "expires_on")


class NotFound(LookupError):
    """Nothing with that identifier."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class Conflict(Exception):
    """The request contradicts the state; `code` is stable, `message` Spanish."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Outcome:
    """The object an upsert left, whether it was created, and whether anything changed."""

    obj: object
    created: bool = False
    changed: bool = False
    new_users: list = field(default_factory=list)


# --- desks and their users -------------------------------------------------------------------

def upsert_desk(rfc, data):
    """Create or update the desk with this RFC and add its listed users (new ones get an e-mail)."""
    validate("DeskInput", data)
    rfc = _rfc(rfc, "rfc")
    razon_social = _required_text(data, "razon_social")
    people = _desk_users(data.get("users", []))
    desk = find_desk(rfc)
    outcome = Outcome(desk, created=desk is None)
    if desk is None:
        desk = outcome.obj = Desk(rfc=rfc, razon_social=razon_social, kind=data.get("kind", "cliente"),
                                  require_two_factor=data.get("require_two_factor", False))
        db.session.add(desk)
    else:
        outcome.changed = _assign(desk, {"razon_social": razon_social, "kind": data.get("kind", desk.kind),
                                         "require_two_factor": data.get("require_two_factor", desk.require_two_factor)})
    for person in people:
        _join(desk, person, outcome)
    if outcome.changed and not outcome.created:
        desk.updated_at = clock.now()  # a new member is news for a client syncing by updated_since
    outcome.changed = outcome.changed or outcome.created
    db.session.flush()
    for user in outcome.new_users:
        welcome.send_set_password(user, desk)
    return outcome


def set_desk_sso(desk, data, key):
    """The desk's own OpenID Provider, created or updated (the secret sealed under `key`; kept when omitted)."""
    from portal.auth.sso import encrypt_secret, decrypt_secret
    from portal.models import DeskIdentityProvider

    validate("DeskSsoInput", data)
    domains = sorted({domain.lower() for domain in data["domains"]})
    for other in db.session.scalars(select(DeskIdentityProvider).where(DeskIdentityProvider.desk_id != desk.id)):
        taken = sorted(set(domains) & set(other.domain_list))
        if taken:
            raise Conflict("domain_taken", f"El dominio {taken[0]} ya lo atiende el proveedor de otro escritorio.")
    provider = db.session.get(DeskIdentityProvider, desk.id)
    outcome = Outcome(provider, created=provider is None)
    secret = data.get("client_secret")
    if provider is None:
        if not secret:
            raise InvalidInput({"client_secret": "Captura el secreto del cliente: es la primera vez que se define."})
        provider = outcome.obj = DeskIdentityProvider(desk_id=desk.id, issuer=data["issuer"], client_id=data["client_id"],
                                                      client_secret_encrypted=encrypt_secret(secret, key),
                                                      domains=",".join(domains), required=data.get("required", False))
        db.session.add(provider)
    else:
        outcome.changed = _assign(provider, {"issuer": data["issuer"], "client_id": data["client_id"],
                                             "domains": ",".join(domains),
                                             "required": data.get("required", provider.required)})
        if secret:
            try:
                same = decrypt_secret(provider.client_secret_encrypted, key) == secret
            except ValueError:
                same = False
            if not same:
                provider.client_secret_encrypted = encrypt_secret(secret, key)
                outcome.changed = True
    outcome.changed = outcome.changed or outcome.created
    db.session.flush()
    return outcome


def desk_sso_of(desk):
    """The desk's own OpenID Provider; NotFound if it has none."""
    from portal.models import DeskIdentityProvider

    provider = db.session.get(DeskIdentityProvider, desk.id)
    if provider is None:
        raise NotFound("Este escritorio no tiene un proveedor de identidad propio.")
    return provider


def _desk_users(items):
    people, fields, seen = [], {}, set()
    for index, item in enumerate(items):
        try:
            email = clean_email(item["email"])  # the schema has checked it with this same rule
        except ValueError as refusal:
            fields[f"users[{index}].email"] = str(refusal)
            continue
        if email in seen:
            fields[f"users[{index}].email"] = "Este correo ya está en la lista."
            continue
        seen.add(email)
        name = item["name"].strip()
        if not name:
            fields[f"users[{index}].name"] = "No puede estar vacío."
        people.append({"email": email, "name": name, "phone": item.get("phone", "").strip(), "role": item.get("role")})
    if fields:
        raise InvalidInput(fields)
    return people


def _join(desk, person, outcome):
    user = db.session.scalar(select(User).where(func.lower(User.email) == person["email"]))
    if user is None:
        # No password: the e-mail lets them choose one. Name and phone are theirs to edit afterwards.
        user = User(email=person["email"], name=person["name"], phone=person["phone"], password_hash=None)
        db.session.add(user)
        outcome.new_users.append(user)
        membership = None
    else:
        membership = db.session.scalar(
            select(Membership).where(Membership.user_id == user.id, Membership.desk_id == desk.id)
        ) if desk.id else None
    if membership is None:
        db.session.add(Membership(user=user, desk=desk, role=person["role"] or "member"))
        outcome.changed = True
    elif person["role"] and membership.role != person["role"]:
        membership.role = person["role"]
        outcome.changed = True


def find_desk(rfc):
    """The desk with this (normalised) RFC, or None."""
    return db.session.scalar(select(Desk).where(Desk.rfc == rfc))


def desk_by_rfc(raw):
    """The desk named in a URL; a malformed or unknown RFC is NotFound."""
    try:
        rfc = normalise_rfc(raw)
    except ValueError:
        rfc = None
    desk = find_desk(rfc) if rfc else None
    if desk is None:
        raise NotFound("No existe un escritorio con ese RFC.")
    return desk


# --- services --------------------------------------------------------------------------------

def upsert_service(serial, data):
    """Create or update the service with this serial; the same data twice changes nothing."""
    validate("ServiceInput", data)
    serial = _serial(serial)
    desk = _existing_desk(data["desk_rfc"], "desk_rfc")
    values = {name: data[name] for name in SERVICE_FIELDS if name in data}
    if values.get("users") is not None:
        values["users"] = int(values["users"])  # JSON Schema's integer admits 5.0
    values.update({name: _date(data[name], name) for name in DATE_FIELDS if data.get(name) is not None})
    if "name" in values:
        values["name"] = values["name"].strip()
    if "product" in data:
        values["product_id"] = _product(data["product"], "product").id if data["product"] else None
    if "cda" in data:
        values["cda"] = data["cda"]
    service = db.session.scalar(select(Service).where(Service.serial == serial))
    outcome = Outcome(service, created=service is None)
    if service is None:
        service = outcome.obj = Service(serial=serial, desk_id=desk.id, name="", status="activo")
        db.session.add(service)
    values["desk_id"] = desk.id
    outcome.changed = _assign(service, values) or outcome.created
    _check_service(service)
    return outcome


def _check_service(service):
    fields = {}
    if service.category in SYSTEM_CATEGORIES:
        if service.product_id is None:
            fields["product"] = "Un sistema necesita su producto."
        if service.acquisition is None:
            fields["acquisition"] = "Un sistema necesita su forma de adquisición (electronica o fisica)."
    if service.valid_from and service.valid_until and service.valid_until < service.valid_from:
        fields["valid_until"] = "La vigencia termina antes de empezar."
    if fields:
        raise InvalidInput(fields)


def service_by_serial(serial):
    """The service with this serial, or NotFound."""
    service = db.session.scalar(select(Service).where(Service.serial == serial)) if isinstance(serial, str) else None
    if service is None:
        raise NotFound("No existe un servicio con ese número de serie.")
    return service


def deactivate_service(serial):
    """Mark the service cancelado (its history stays); a second call changes nothing."""
    service = service_by_serial(serial)
    return Outcome(service, changed=_assign(service, {"status": "cancelado"}))


# --- prepaid keys ----------------------------------------------------------------------------

@dataclass
class IssuedBatch:
    batch: str
    codes: list
    quantity: int
    unit: str
    product: str | None
    expires_on: date | None


def issue_key_batch(data, today):
    """Issue `count` new keys; returns the IssuedBatch whose codes the caller shows this once."""
    validate("KeyBatchInput", data)
    values = key_values(data, today)
    values["batch"] = values["batch"] or f"api-{clock.now():%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    if db.session.scalar(select(PrepaidKey.id).where(PrepaidKey.batch == values["batch"]).limit(1)):
        raise Conflict("batch_exists", "Ya existe un lote con esa referencia; sus claves no se vuelven a mostrar.")
    new_codes = _fresh_codes(int(data["count"]))
    db.session.add_all(PrepaidKey(code=code, status="nueva", **values) for code in new_codes)
    product = (data.get("product") or "").strip().upper() or None
    return IssuedBatch(values["batch"], new_codes, values["quantity"], values["unit"], product, values["expires_on"])


def key_values(data, today):
    """The columns of new keys from a KeyBatchInput-shaped dict (the import reuses it per row)."""
    expires_on = _date(data["expires_on"], "expires_on") if data.get("expires_on") else None
    if expires_on and expires_on < today:
        raise InvalidInput({"expires_on": "La fecha de vencimiento ya pasó."})
    product = _product(data["product"], "product") if data.get("product") else None
    unit = data.get("unit", redemption.STAMP_UNIT).strip()
    if not unit:
        raise InvalidInput({"unit": "No puede estar vacío."})
    if unit.casefold() == redemption.STAMP_UNIT.casefold():
        # One spelling: the list and the e-mail say "50 Timbres", and only that unit credits the balance.
        unit = redemption.STAMP_UNIT
    return {"quantity": int(data["quantity"]), "unit": unit, "product_id": product.id if product else None,
            "expires_on": expires_on, "batch": data.get("reference")}


def _fresh_codes(count):
    """`count` random codes that no key has yet (a collision in 75 bits is unlikely, not impossible)."""
    fresh = set()
    while len(fresh) < count:
        candidates = {key_codes.generate() for _ in range(count - len(fresh))} - fresh
        digests = {code_digest(code): code for code in candidates}
        taken = {digests[d] for d in db.session.scalars(select(PrepaidKey.code_digest).where(
            PrepaidKey.code_digest.in_(list(digests))))}
        fresh |= candidates - taken
    return sorted(fresh)


def key_by_code(raw):
    """The key with this code (dashes, spaces and case forgiven), or NotFound."""
    try:
        code = key_codes.normalise(raw)
    except ValueError:
        code = None
    key = db.session.scalar(select(PrepaidKey).where(PrepaidKey.code_digest == code_digest(code))) if code else None
    if key is None:
        raise NotFound("No existe una clave de prepago con ese código.")
    return key


def revoke_key(raw):
    """Withdraw a key nobody confirmed yet; a confirmed key is a Conflict, a revoked one unchanged."""
    key = key_by_code(raw)
    if key.status == "revocada":
        return Outcome(key)
    if key.status != "nueva":
        raise Conflict("key_confirmed", "La clave ya se confirmó en un escritorio; no se puede revocar.")
    key.status = "revocada"
    return Outcome(key, changed=True)


def assign_key(raw, data, *, today, actor=None, ip=None):
    """A distributor's client starts using a key (portal.prepaid.redemption's rule); returns its Assignment."""
    validate("AssignmentInput", data)
    rfc = _rfc(data["rfc"], "rfc")
    on_date = _date(data["activated_on"], "activated_on") if "activated_on" in data else today
    key = key_by_code(raw)
    try:
        return redemption.assign_key(key, rfc, data["razon_social"], on_date, actor=actor, ip=ip)
    except redemption.InvalidAssignmentDate as error:
        raise InvalidInput({"activated_on": error.message}) from None
    except redemption.InvalidClient as error:
        raise InvalidInput({"razon_social" if "razón social" in error.message else "rfc": error.message}) from None
    except redemption.RedemptionError as error:
        # Not confirmed, revoked, or used by another client: the key's state says no.
        raise Conflict(error.code, error.message) from None


# --- stamps ----------------------------------------------------------------------------------

def report_stamp_use(desk, data):
    """Count stamps a desk used, once per external_id; returns (recorded, balance)."""
    validate("StampUseInput", data)
    external_id = STAMP_USE_PREFIX + data["external_id"].strip()
    existing = db.session.scalar(select(StampMovement).where(StampMovement.external_id == external_id))
    if existing is not None:
        if (existing.desk_id, existing.kind, existing.quantity) != (desk.id, "consumo", int(data["quantity"])):
            raise Conflict("external_id_reused", "Ese external_id ya se usó para otro reporte (otro escritorio "
                                                 "u otra cantidad).")
        return False, stamp_balance(desk.id)
    record_stamp_use(desk.id, int(data["quantity"]), external_id, note=data.get("note", ""))
    db.session.flush()
    return True, stamp_balance(desk.id)


# --- helpers ---------------------------------------------------------------------------------

def _assign(obj, values):
    """Set only what differs, so an unchanged upsert writes nothing (and keeps updated_at)."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _rfc(raw, field_name):
    try:
        return normalise_rfc(raw)
    except ValueError as error:
        raise InvalidInput({field_name: str(error)}) from None


def _existing_desk(raw, field_name):
    desk = find_desk(_rfc(raw, field_name))
    if desk is None:
        raise InvalidInput({field_name: "No existe un escritorio con ese RFC; créalo primero."})
    return desk


def _serial(raw):
    if not isinstance(raw, str) or not raw or len(raw) > 40 or not all(ch.isascii() and (ch.isalnum() or ch in "._-")
                                                                      for ch in raw):
        raise InvalidInput({"serial": "El número de serie solo admite letras, dígitos, punto, guion y guion bajo "
                                      "(hasta 40)."})
    return raw


def _product(code, field_name):
    code = code.strip().upper()
    product = db.session.scalar(select(Product).where(Product.code == code))
    if product is None and code in CATALOGUE:
        product = Product(code=code, name=CATALOGUE[code])
        db.session.add(product)
        db.session.flush()
    if product is None:
        raise InvalidInput({field_name: "Producto desconocido; usa " + ", ".join(CATALOGUE) + "."})
    return product


def _date(value, field_name):
    try:
        if not ISO_DAY.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput({field_name: "Fecha no válida; usa AAAA-MM-DD."}) from None


def _required_text(data, name):
    value = data[name].strip()
    if not value:
        raise InvalidInput({name: "No puede estar vacío."})
    return value
