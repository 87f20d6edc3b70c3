"""Prepaid key rules without a client: the code format, validate, confirm (exactly once), assign."""
import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Client, OutboxMessage, StampMovement
from portal import key_codes
from portal.prepaid.redemption import (
    BadCheckCharacter, ClientConflict, DestinationNotAllowed, EmailNotVerified, InvalidAssignmentDate, InvalidClient,
    KeyAlreadyInThisDesk, KeyExpired, KeyNotConfirmed, KeyRevoked, KeyUsedElsewhere, LicenseNotAccepted, MalformedKey,
    UnknownKey, amount, assign_key, confirm_key, validate_key,
)
from portal.services.stamps import stamp_balance
from tests import factories
from tests.clock_helpers import TEST_TODAY

TODAY = TEST_TODAY  # the portal's clock in every test (tests/clock_helpers.py)


# --- the code format ---------------------------------------------------------------------------

def test_generated_codes_are_16_crockford_characters_with_a_valid_check():
    for _ in range(200):
        code = key_codes.generate()
        assert len(code) == 16 and set(code) <= set(key_codes.ALPHABET)
        assert key_codes.normalise(code) == code


def test_typing_is_forgiven_case_spaces_dashes_and_look_alikes():
    body = "0123456789ABCDE"
    code = body + key_codes.check_character(body)
    typed = "o123-4567 89ab cde" + code[-1].lower()
    assert key_codes.normalise(typed) == code
    assert key_codes.normalise(code.replace("1", "l")) == code
    assert key_codes.normalise(code.replace("1", "I")) == code
    assert key_codes.normalise(key_codes.grouped(code)) == code


def test_every_single_typo_and_every_neighbour_swap_but_0_z_is_caught_by_the_check_character():
    rng = random.Random(7)
    for _ in range(30):
        body = "".join(rng.choice(key_codes.ALPHABET) for _ in range(15))
        code = body + key_codes.check_character(body)
        for i in range(16):
            for ch in key_codes.ALPHABET:
                if ch != code[i]:
                    with pytest.raises(key_codes.BadCheckCharacter):
                        key_codes.normalise(code[:i] + ch + code[i + 1:])
        for i in range(15):
            if code[i] != code[i + 1] and {code[i], code[i + 1]} != {"0", "Z"}:
                with pytest.raises(key_codes.BadCheckCharacter):
                    key_codes.normalise(code[:i] + code[i + 1] + code[i] + code[i + 2:])


@pytest.mark.parametrize("raw", ["", "ABC", "0123456789ABCDEFG", "0123456789ABCDU0", "0123-4567-89AB-CD€F", None, "x" * 80])
def test_malformed_codes_are_refused_before_any_lookup(raw):
    with pytest.raises(key_codes.MalformedCode):
        key_codes.normalise(raw)


def test_grouped_and_masked_show_four_by_four_and_only_the_last_four():
    assert key_codes.grouped("0123456789ABCDEF") == "0123-4567-89AB-CDEF"
    assert key_codes.masked("0123456789ABCDEF") == "••••-••••-••••-CDEF"


# --- validate ----------------------------------------------------------------------------------

def test_a_new_key_validates_and_nothing_changes(world):
    key = factories.prepaid_key()
    assert validate_key(world.a.desk, key_codes.grouped(key.code).lower(), today=TODAY) == key
    db.session.refresh(key)
    assert key.status == "nueva" and key.desk_id is None


@pytest.mark.parametrize("raw, error", [
    ("ABC-123", MalformedKey), ("0123456789ABCDEF", BadCheckCharacter), (key_codes.generate(), UnknownKey),
], ids=["malformada", "verificador", "desconocida"])  # the same names in every process (pytest-xdist)
def test_typing_errors_and_unknown_keys(world, raw, error):
    if error is BadCheckCharacter:
        raw = raw[:-1] + ("0" if key_codes.check_character(raw[:-1]) != "0" else "1")
    with pytest.raises(error) as caught:
        validate_key(world.a.desk, raw, today=TODAY)
    assert caught.value.message


def test_wrong_check_character_message_is_the_capture_error():
    assert BadCheckCharacter().message == "Revisa la clave: parece tener un error de captura."


def test_a_key_already_here_elsewhere_expired_or_revoked_is_refused(world):
    here = factories.prepaid_key(world.a.desk)
    elsewhere = factories.prepaid_key(world.b.desk)
    expired = factories.prepaid_key(expires_on=TODAY - timedelta(days=1))
    revoked = factories.prepaid_key(status="revocada")
    with pytest.raises(KeyAlreadyInThisDesk) as caught:
        validate_key(world.a.desk, here.code, today=TODAY)
    assert caught.value.key == here
    assert caught.value.message == "La clave ya está activada en este escritorio."
    with pytest.raises(KeyUsedElsewhere):
        validate_key(world.a.desk, elsewhere.code, today=TODAY)
    with pytest.raises(KeyExpired) as caught:
        validate_key(world.a.desk, expired.code, today=TODAY)
    assert f"La clave venció el {TODAY - timedelta(days=1):%d/%m/%Y}" in caught.value.message
    with pytest.raises(KeyRevoked):
        validate_key(world.a.desk, revoked.code, today=TODAY)


def test_a_key_expiring_today_is_still_valid(world):
    key = factories.prepaid_key(expires_on=TODAY)
    assert validate_key(world.a.desk, key.code, today=TODAY) == key


# --- confirm -----------------------------------------------------------------------------------

def _counts():
    return (db.session.scalar(select(func.count()).select_from(OutboxMessage)),
            db.session.scalar(select(func.count()).select_from(StampMovement)),
            db.session.scalar(select(func.count()).select_from(Client)))


def test_confirm_for_my_business_uses_the_key_at_once_credits_stamps_and_queues_the_email(world):
    desk, user = world.b.desk, world.b.user
    key = factories.prepaid_key(quantity=50)
    confirmed = confirm_key(desk, user, key_codes.grouped(key.code).lower(), "mi_negocio", True, ip="10.0.0.9", today=TODAY)
    db.session.commit()
    db.session.refresh(key)
    assert confirmed.id == key.id
    assert (key.status, key.desk_id, key.destination) == ("utilizada", desk.id, "mi_negocio")
    assert key.confirmed_on == TODAY and key.activated_on == TODAY
    assert key.confirmed_by_id == user.id and key.license_accepted_at is not None and key.confirmed_at is not None
    assert (key.client.rfc, key.client.razon_social, key.client.desk_id) == (desk.rfc, desk.razon_social, desk.id)
    assert stamp_balance(desk.id).received == 50

    message = db.session.scalar(select(OutboxMessage))
    assert message.recipient == user.email and message.kind == "prepaid_key_confirmed"
    assert message.subject == "Confirmación de tu clave de prepago"
    assert key_codes.masked(key.code) in message.body_text and key.code not in message.body_text
    assert key_codes.grouped(key.code) not in message.body_text and key.code not in (message.body_html or "")
    for text in ("50 Timbres", desk.razon_social, desk.rfc, f"{TODAY:%d/%m/%Y}", "Mi Negocio",
                 "Los servicios liberados por este medio serán válidos solo para este Escritorio."):
        assert text in message.body_text

    event = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "prepaid_key_confirmed"))
    assert (event.user_id, event.desk_id, event.ip) == (user.id, desk.id, "10.0.0.9")
    assert event.detail["key"] == key_codes.masked(key.code)
    assert key.code not in str(event.detail)


def test_confirm_email_text_reads_as_a_user_must_read_it(world):
    desk, user = world.b.desk, world.b.user
    key = factories.prepaid_key(quantity=200)
    confirm_key(desk, user, key.code, "mi_negocio", True, today=TODAY)
    db.session.commit()
    body = db.session.scalar(select(OutboxMessage.body_text))
    assert body == (
        f"Hola {user.name}:\n\n"
        "Se confirmó una clave de prepago en tu Escritorio de Servicios Aspel.\n\n"
        f"Clave:      {key_codes.masked(key.code)}\n"
        "Cantidad:   200 Timbres\n"
        f"Escritorio: {desk.razon_social} (RFC {desk.rfc})\n"
        "Destino:    Mi Negocio\n"
        f"Fecha:      {TODAY:%d/%m/%Y}\n\n"
        "Los servicios liberados por este medio serán válidos solo para este Escritorio.\n\n"
        "Consulta el estatus de tus claves en el Escritorio de Servicios, en Mis Servicios > Claves prepago.\n\n"
        "Si tú no confirmaste esta clave, comunícate con tu distribuidor o con Soporte Aspel.\n\n"
        "—\n"
        "Escritorio de Servicios Aspel. Este correo se envió automáticamente; no lo respondas."
    )


def test_confirm_for_a_distributor_leaves_the_key_available_and_unassigned(world):
    key = factories.prepaid_key()
    confirm_key(world.a.desk, world.a.user, key.code, "distribuidor", True, today=TODAY)
    db.session.commit()
    db.session.refresh(key)
    assert (key.status, key.desk_id, key.destination) == ("disponible", world.a.desk.id, "distribuidor")
    assert key.activated_on is None and key.client_id is None
    # A distributor's stock is not its own stamp balance: stamps count when a company uses them.
    assert stamp_balance(world.a.desk.id).received == 0
    assert "Distribuidor" in db.session.scalar(select(OutboxMessage.body_text))


@pytest.mark.parametrize("case", ["customer_as_distributor", "unknown_destination", "no_license", "unverified"])
def test_refused_confirmations_change_nothing(world, case):
    desk, user = world.b.desk, world.b.user
    destination, accepted = "mi_negocio", True
    expected = {"customer_as_distributor": DestinationNotAllowed, "unknown_destination": DestinationNotAllowed,
                "no_license": LicenseNotAccepted, "unverified": EmailNotVerified}[case]
    if case == "customer_as_distributor":
        destination = "distribuidor"
    elif case == "unknown_destination":
        destination = "otro"
    elif case == "no_license":
        accepted = False
    elif case == "unverified":
        user = factories.user(desk, verified=False)
    key = factories.prepaid_key()
    with pytest.raises(expected) as caught:
        confirm_key(desk, user, key.code, destination, accepted, today=TODAY)
    assert caught.value.message
    db.session.commit()
    db.session.refresh(key)
    assert key.status == "nueva" and key.desk_id is None
    assert _counts() == (0, 0, 0)


def test_second_confirmation_in_the_same_desk_is_idempotent_and_says_so(world):
    desk, user = world.b.desk, world.b.user
    key = factories.prepaid_key()
    confirm_key(desk, user, key.code, "mi_negocio", True, today=TODAY)
    db.session.commit()
    with pytest.raises(KeyAlreadyInThisDesk) as caught:
        confirm_key(desk, user, key.code, "mi_negocio", True, today=TODAY)
    assert caught.value.key.id == key.id
    db.session.commit()
    assert _counts() == (1, 1, 1)
    assert stamp_balance(desk.id).received == 50


def test_a_key_confirmed_elsewhere_is_refused_to_the_next_desk(world):
    key = factories.prepaid_key()
    confirm_key(world.b.desk, world.b.user, key.code, "mi_negocio", True, today=TODAY)
    db.session.commit()
    with pytest.raises(KeyUsedElsewhere):
        confirm_key(world.a.desk, world.a.user, key.code, "distribuidor", True, today=TODAY)
    db.session.refresh(key)
    assert key.desk_id == world.b.desk.id


def test_expired_revoked_and_unknown_keys_cannot_be_confirmed(world):
    expired = factories.prepaid_key(expires_on=TODAY - timedelta(days=1))
    revoked = factories.prepaid_key(status="revocada")
    for key, error in ((expired, KeyExpired), (revoked, KeyRevoked)):
        with pytest.raises(error):
            confirm_key(world.a.desk, world.a.user, key.code, "distribuidor", True, today=TODAY)
        db.session.refresh(key)
        assert key.desk_id is None and key.status in ("nueva", "revocada")
    with pytest.raises(UnknownKey):
        confirm_key(world.a.desk, world.a.user, key_codes.generate(), "distribuidor", True, today=TODAY)
    db.session.commit()
    assert _counts() == (0, 0, 0)


def test_keys_not_in_stamps_credit_nothing(world):
    key = factories.prepaid_key(quantity=1, unit="Licencias", product=factories.product("COI"))
    confirm_key(world.b.desk, world.b.user, key.code, "mi_negocio", True, today=TODAY)
    db.session.commit()
    assert amount(key) == "1 Licencia de Aspel COI"
    assert stamp_balance(world.b.desk.id).received == 0


def test_my_business_reuses_the_desks_own_client_row(world):
    first, second = factories.prepaid_key(), factories.prepaid_key()
    for key in (first, second):
        confirm_key(world.b.desk, world.b.user, key.code, "mi_negocio", True, today=TODAY)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Client)) == 1
    assert stamp_balance(world.b.desk.id).received == 100


# --- assign ------------------------------------------------------------------------------------

def test_assign_marks_an_available_key_used_by_the_client_on_that_date(world):
    key = factories.prepaid_key(world.a.desk, confirmed_on=TODAY - timedelta(days=3))
    result = assign_key(key_codes.grouped(key.code).lower(), " emp900101ab1 ", "  Empresa   Uno  ", TODAY, actor="token:bo")
    db.session.commit()
    db.session.refresh(key)
    assert result.changed and result.key.id == key.id
    assert (key.status, key.activated_on, key.client.rfc, key.client.razon_social) == (
        "utilizada", TODAY, "EMP900101AB1", "Empresa Uno")
    assert key.client.desk_id == world.a.desk.id
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "prepaid_key_assigned"))
    assert event.actor == "token:bo" and event.detail["key"] == key_codes.masked(key.code)


def test_assigning_the_same_client_again_changes_nothing(world):
    key = factories.prepaid_key(world.a.desk, confirmed_on=TODAY - timedelta(days=3))
    assign_key(key, "EMP900101AB1", "Empresa Uno", TODAY)
    db.session.commit()
    db.session.refresh(key)
    before = (key.updated_at, key.activated_on)
    again = assign_key(key.code, "EMP900101AB1", "Empresa Uno S.A.", TODAY + timedelta(days=5))
    db.session.commit()
    db.session.refresh(key)
    assert not again.changed and (key.updated_at, key.activated_on) == before
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 1


def test_assigning_another_client_is_a_conflict_and_leaves_no_trace(world):
    key = factories.prepaid_key(world.a.desk, confirmed_on=TODAY - timedelta(days=3))
    assign_key(key, "EMP900101AB1", "Empresa Uno", TODAY)
    db.session.commit()
    with pytest.raises(ClientConflict):
        assign_key(key.code, "OTR900101AB2", "Otra Empresa", TODAY)
    db.session.commit()
    db.session.refresh(key)
    assert key.client.rfc == "EMP900101AB1"
    assert db.session.scalars(select(Client.rfc)).all() == ["EMP900101AB1"]


def test_a_key_for_my_business_belongs_to_the_desks_own_company(world):
    key = factories.prepaid_key()
    confirm_key(world.b.desk, world.b.user, key.code, "mi_negocio", True, today=TODAY)
    db.session.commit()
    assert not assign_key(key.code, world.b.desk.rfc, world.b.desk.razon_social, TODAY).changed
    with pytest.raises(ClientConflict):
        assign_key(key.code, "OTR900101AB2", "Otra Empresa", TODAY)


def test_assigning_to_the_desks_own_rfc_credits_its_stamps_once(world):
    key = factories.prepaid_key(world.a.desk, confirmed_on=TODAY - timedelta(days=1), quantity=200)
    assign_key(key, world.a.desk.rfc, world.a.desk.razon_social, TODAY)
    assign_key(key, world.a.desk.rfc, world.a.desk.razon_social, TODAY)
    db.session.commit()
    assert stamp_balance(world.a.desk.id).received == 200


@pytest.mark.parametrize("status, error", [("nueva", KeyNotConfirmed), ("revocada", KeyRevoked)])
def test_keys_not_in_a_desk_cannot_be_assigned(world, status, error):
    key = factories.prepaid_key(status=status)
    with pytest.raises(error):
        assign_key(key.code, "EMP900101AB1", "Empresa Uno", TODAY)


@pytest.mark.parametrize("rfc, name, on, error", [
    ("NO-ES-RFC", "Empresa", TODAY, InvalidClient),
    ("EMP900101AB1", "   ", TODAY, InvalidClient),
    ("EMP900101AB1", "x" * 201, TODAY, InvalidClient),
    ("EMP900101AB1", "Empresa", TODAY.isoformat(), InvalidAssignmentDate),  # a string, not a date
    ("EMP900101AB1", "Empresa", TODAY - timedelta(days=30), InvalidAssignmentDate),
])
def test_bad_assignments_are_refused_and_change_nothing(world, rfc, name, on, error):
    key = factories.prepaid_key(world.a.desk, confirmed_on=TODAY - timedelta(days=3))
    with pytest.raises(error) as caught:
        assign_key(key, rfc, name, on)
    assert caught.value.message
    db.session.commit()
    db.session.refresh(key)
    assert key.status == "disponible" and key.client_id is None
    assert db.session.scalar(select(func.count()).select_from(Client)) == 0


def test_assigning_an_unknown_or_mistyped_code(world):
    with pytest.raises(UnknownKey):
        assign_key(key_codes.generate(), "EMP900101AB1", "Empresa", TODAY)
    with pytest.raises(MalformedKey):
        assign_key("nada", "EMP900101AB1", "Empresa", TODAY)

