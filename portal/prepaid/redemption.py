"""Prepaid key rules: validate a typed key, confirm it into a desk exactly once, assign it to a client.

Flask-free (no request, no session): the views and the back-office API call these and turn the
domain errors below into Spanish pages or JSON. The caller commits.

    validate_key(desk, raw, *, today) -> PrepaidKey
        A key this desk may confirm. Raises MalformedKey, BadCheckCharacter, UnknownKey,
        KeyAlreadyInThisDesk, KeyUsedElsewhere, KeyExpired, KeyRevoked. Changes nothing.

    confirm_key(desk, user, code, destination, accepted_license, *, today, ip=None) -> PrepaidKey
        Claims a `nueva` key for `desk` with ONE conditional UPDATE, so of any number of racing
        processes exactly one wins. destination: "mi_negocio" (the key is Utilizada at once by the
        desk's own company; Timbres go to the desk's stamp balance) or "distribuidor" (distributor
        desks only; the key stays Disponible). Queues the confirmation e-mail and an audit event in
        the caller's transaction. Raises EmailNotVerified, LicenseNotAccepted, DestinationNotAllowed,
        and on a lost or impossible claim the validate_key errors (KeyAlreadyInThisDesk when this
        desk already has it: a double submit).

    assign_key(key_code_or_key, client_rfc, client_name, on_date, *, actor=None, ip=None) -> Assignment
        A Disponible key becomes Utilizada by a client (RFC + razón social) on `on_date`.
        The same client again: Assignment(changed=False), nothing written. Another client:
        ClientConflict (the API answers 409). Also raises MalformedKey, BadCheckCharacter,
        UnknownKey, KeyNotConfirmed, KeyRevoked, InvalidClient, InvalidAssignmentDate.

Every error has `code` (stable, for the API) and `message` (Spanish, for people). Audit records
and logs carry key_codes.masked(code), never the full code.
"""
from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from portal import audit, key_codes, roles
from portal.extensions import db
from portal.mail.outbox import enqueue
from portal.models import Client, Desk, PrepaidKey
from portal.models.prepaid import code_digest
from portal import clock
from portal.rfc import normalise_rfc
from portal.services.stamps import credit_stamps

DESTINATIONS = {"mi_negocio": "Mi Negocio", "distribuidor": "Distribuidor"}
STAMP_UNIT = "Timbres"
# A Mexican RFC: 3 letters for a company (4 for a person), the date, a 3-character homoclave.


class RedemptionError(Exception):
    """A key or a request the rules refuse; nothing was changed."""

    code = "prepaid_error"
    message = "No fue posible procesar la clave."

    def __init__(self, message=None):
        if message:
            self.message = message
        super().__init__(self.message)


class MalformedKey(RedemptionError):
    code = "malformed_key"
    message = "La clave debe tener 16 letras y números, por ejemplo ABCD-EFGH-JKMN-PQR7."


class BadCheckCharacter(RedemptionError):
    code = "bad_check_character"
    message = "Revisa la clave: parece tener un error de captura."


class UnknownKey(RedemptionError):
    code = "unknown_key"
    message = "La clave no existe. Verifica que la hayas capturado correctamente."


class KeyAlreadyInThisDesk(RedemptionError):
    code = "key_already_in_this_desk"
    message = "La clave ya está activada en este escritorio."

    def __init__(self, key):
        self.key = key
        super().__init__()


class KeyUsedElsewhere(RedemptionError):
    code = "key_used_elsewhere"
    message = "La clave ya fue activada en otro escritorio."


class KeyExpired(RedemptionError):
    code = "key_expired"

    def __init__(self, expired_on):
        super().__init__(f"La clave venció el {expired_on:%d/%m/%Y} y ya no puede activarse.")


class KeyRevoked(RedemptionError):
    code = "key_revoked"
    message = "La clave fue cancelada y ya no puede usarse."


class KeyNotConfirmed(RedemptionError):
    code = "key_not_confirmed"
    message = "La clave aún no se ha activado en ningún escritorio."


class LicenseNotAccepted(RedemptionError):
    code = "license_not_accepted"
    message = "Para confirmar debes aceptar la Licencia de Uso."


class DestinationNotAllowed(RedemptionError):
    code = "destination_not_allowed"
    message = "El destino «Distribuidor» solo está disponible para escritorios de distribuidor."


class EmailNotVerified(RedemptionError):
    code = "email_not_verified"
    message = "Verifica tu correo electrónico antes de confirmar claves: te enviaremos la confirmación ahí."


class ClientConflict(RedemptionError):
    code = "client_conflict"
    message = "La clave ya está asignada a otro cliente."


class InvalidClient(RedemptionError):
    code = "invalid_client"


class InvalidAssignmentDate(RedemptionError):
    code = "invalid_assignment_date"
    message = "La fecha de uso no puede ser anterior a la fecha de contratación de la clave."


@dataclass
class Assignment:
    key: PrepaidKey
    client: Client
    changed: bool


def amount(key):
    """What a key is worth, as the list and the e-mail say it: "50 Timbres", "1 Timbre"."""
    unit = key.unit
    if key.quantity == 1 and unit.endswith("s"):
        unit = unit[:-1]
    text = f"{key.quantity} {unit}"
    if key.product is not None:
        text += f" de {key.product.name}"
    return text


def canonical(raw):
    """The stored form of a typed code, or MalformedKey / BadCheckCharacter before any lookup."""
    try:
        return key_codes.normalise(raw)
    except key_codes.BadCheckCharacter:
        raise BadCheckCharacter() from None
    except key_codes.MalformedCode:
        raise MalformedKey() from None


def _key_by_code(code, fresh=False):
    statement = select(PrepaidKey).where(PrepaidKey.code_digest == code_digest(code))
    if fresh:
        # After a lost claim: what the winner committed, not what this session cached.
        statement = statement.execution_options(populate_existing=True)
    return db.session.scalar(statement)


def _refusal(desk, key, today):
    """Why `desk` cannot confirm `key` (None if it can)."""
    if key.status == "revocada":
        return KeyRevoked()
    if key.desk_id is not None and key.desk_id == desk.id:
        return KeyAlreadyInThisDesk(key)
    if key.status != "nueva" or key.desk_id is not None:
        return KeyUsedElsewhere()
    if key.expires_on is not None and key.expires_on < today:
        return KeyExpired(key.expires_on)
    return None


def validate_key(desk, raw, *, today):
    """The key `raw` names, if `desk` may confirm it; otherwise the reason as a domain error."""
    code = canonical(raw)
    key = _key_by_code(code)
    if key is None:
        raise UnknownKey()
    refusal = _refusal(desk, key, today)
    if refusal is not None:
        raise refusal
    return key


def confirm_key(desk, user, code, destination, accepted_license, *, today, ip=None):
    """Claim the key for `desk` atomically, then credit, e-mail and audit it (see the module doc).
    RoleRefused (portal.roles) unless the user's role in the desk may act on it."""
    roles.require_in(desk.id, user.id, roles.CHANGE)
    if not user.email_verified:
        raise EmailNotVerified()
    if destination not in DESTINATIONS:
        raise DestinationNotAllowed("Elige el destino de la clave: Mi Negocio o Distribuidor.")
    if destination == "distribuidor" and not desk.is_distributor:
        raise DestinationNotAllowed()
    if not accepted_license:
        raise LicenseNotAccepted()
    code = canonical(code)
    now = clock.now()
    own_use = destination == "mi_negocio"

    # The claim: one statement, conditional on the key still being new and unexpired. The database
    # serialises racing UPDATEs of the row; every loser re-checks the WHERE and matches nothing.
    # RETURNING hands the winner its key in the same round trip; the row lock is held until commit.
    key = db.session.scalars(
        update(PrepaidKey)
        .where(PrepaidKey.code_digest == code_digest(code), PrepaidKey.status == "nueva",
               or_(PrepaidKey.expires_on.is_(None), PrepaidKey.expires_on >= today))
        # In a desk the code is in clear (its grid shows and searches it), no longer encrypted.
        .values(status="utilizada" if own_use else "disponible", desk_id=desk.id, destination=destination,
                shown_code=code, sealed_code=None,
                confirmed_on=today, confirmed_at=now, confirmed_by_id=user.id, license_accepted_at=now,
                activated_on=today if own_use else None, updated_at=now)
        .returning(PrepaidKey)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).one_or_none()
    if key is None:
        key = _key_by_code(code, fresh=True)
        if key is None:
            raise UnknownKey()
        raise _refusal(desk, key, today) or KeyUsedElsewhere()

    if own_use:
        key.client_id = _client_for(desk.id, desk.rfc, desk.razon_social).id
        _credit_own_stamps(desk, key)
    enqueue(user.email, "Confirmación de tu clave de prepago", "prepaid_key_confirmed",
            kind="prepaid_key_confirmed", desk=desk, user=user,
            user_name=user.name, masked_code=key_codes.masked(key.code), amount=amount(key),
            desk_name=desk.razon_social, desk_rfc=desk.rfc, confirmed_on=today,
            destination=DESTINATIONS[destination])
    audit.record("prepaid_key_confirmed", user=user, desk=desk, ip=ip, key=key_codes.masked(key.code),
                 key_id=key.id, destination=destination)
    return key


def _credit_own_stamps(desk, key):
    # Stamps count for the company that uses them: the desk itself, never a distributor's stock.
    if key.unit == STAMP_UNIT:
        credit_stamps(desk.id, key.quantity, f"key:{key.id}", note=f"Clave de prepago {key_codes.masked(key.code)}")


def _client_for(desk_id, rfc, razon_social):
    """The desk's client with this RFC, created on first use (safe when two requests race)."""
    statement = select(Client).where(Client.desk_id == desk_id, Client.rfc == rfc)
    client = db.session.scalar(statement)
    if client is not None:
        return client
    try:
        with db.session.begin_nested():
            client = Client(desk_id=desk_id, rfc=rfc, razon_social=razon_social)
            db.session.add(client)
    except IntegrityError:
        client = db.session.scalar(statement)
    return client


def assign_key(key_code_or_key, client_rfc, client_name, on_date, *, actor=None, ip=None):
    """Mark a Disponible key Utilizada by a client on a date; idempotent for the same client."""
    key = key_code_or_key
    if not isinstance(key, PrepaidKey):
        key = _key_by_code(canonical(key_code_or_key))
        if key is None:
            raise UnknownKey()
    try:
        rfc = normalise_rfc(client_rfc)
    except ValueError as error:
        raise InvalidClient(f"El RFC del cliente no es válido: {error}") from None
    name = " ".join((client_name or "").split())
    if not 1 <= len(name) <= 200:
        raise InvalidClient("Indica la razón social del cliente (hasta 200 caracteres).")
    if not isinstance(on_date, date):
        raise InvalidAssignmentDate("Indica la fecha de uso (AAAA-MM-DD).")

    settled = _settled_assignment(key, rfc)
    if settled is not None:
        return settled
    if on_date < key.confirmed_on:
        raise InvalidAssignmentDate()

    # Nothing of a refused assignment may stay behind, not even a new client row.
    try:
        with db.session.begin_nested():
            client = _client_for(key.desk_id, rfc, name)
            claimed = db.session.execute(
                update(PrepaidKey)
                .where(PrepaidKey.id == key.id, PrepaidKey.status == "disponible")
                .values(status="utilizada", client_id=client.id, activated_on=on_date, updated_at=clock.now())
                .execution_options(synchronize_session=False)
            ).rowcount
            if claimed != 1:
                raise _LostRace()
    except _LostRace:
        # Another assignment won the race: the same client is fine, another one is a conflict.
        key = _key_by_code(key.code, fresh=True)
        settled = _settled_assignment(key, rfc)
        if settled is None:  # the winner's key is never Disponible again; do not claim success
            raise ClientConflict() from None
        return settled
    key = _key_by_code(key.code, fresh=True)

    desk = db.session.get(Desk, key.desk_id)
    if rfc == desk.rfc:
        _credit_own_stamps(desk, key)
    audit.record("prepaid_key_assigned", desk=desk, ip=ip, actor=actor, key=key_codes.masked(key.code),
                 key_id=key.id, client_rfc=rfc)
    return Assignment(key, client, True)


class _LostRace(Exception):
    """Internal: the conditional UPDATE matched nothing; rolls the savepoint back."""


def _settled_assignment(key, rfc):
    """For a key that cannot be assigned any more: no-op for the same client, else the refusal."""
    if key.status == "disponible":
        return None
    if key.status == "nueva":
        raise KeyNotConfirmed()
    if key.status == "revocada":
        raise KeyRevoked()
    client = db.session.get(Client, key.client_id) if key.client_id else None
    if client is not None and client.rfc == rfc:
        return Assignment(key, client, False)
    raise ClientConflict()
