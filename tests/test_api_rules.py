"""The back-office rules (portal.backoffice) without HTTP: RFCs, schemas, upserts, tokens."""

import pytest
from sqlalchemy import select

from portal.backoffice import operations
from portal.backoffice.importer import kind_of
from portal.backoffice.schemas import InvalidInput, validate
from portal.backoffice.tokens import create_token, digest, find_token, revoke_token
from portal.extensions import db
from portal.models import Desk, PrepaidKey, Service, StampMovement
from portal.models.prepaid import code_digest
from tests import factories


def test_schema_errors_are_spanish_and_name_their_field():
    with pytest.raises(InvalidInput) as caught:
        validate("ServiceInput", {"desk_rfc": "CBA950612K21", "category": "suscripciones", "users": 2.5,
                                  "activated_on": "14/03/2025", "name": "a\x00b", "plan": "p" * 121, "otro": 1})
    assert caught.value.fields == {
        "users": "Debe ser un número entero o null.",
        "activated_on": "Fecha no válida; usa AAAA-MM-DD.",
        "name": "Contiene caracteres no permitidos.",
        "plan": "Debe tener como máximo 120 caracteres.",
        "otro": "Campo no permitido.",
    }
    with pytest.raises(InvalidInput) as caught:
        validate("DeskInput", ["no", "es", "objeto"])
    assert caught.value.fields == {"body": "Debe ser un objeto."}


def test_upsert_service_reports_what_changed(app, world):
    body = {"desk_rfc": world.a.desk.rfc, "category": "licenciamiento", "product": "COI", "acquisition": "fisica",
            "cda": "CDA-1"}
    created = operations.upsert_service("COI-1", body)
    db.session.commit()
    assert (created.created, created.changed) == (True, True)
    same = operations.upsert_service("COI-1", dict(body))
    assert (same.created, same.changed) == (False, False)
    assert not db.session.dirty
    moved = operations.upsert_service("COI-1", {**body, "desk_rfc": world.b.desk.rfc})
    db.session.commit()
    assert moved.changed and db.session.scalar(select(Service.desk_id)) == world.b.desk.id


def test_a_product_of_the_catalogue_is_created_on_first_use(app, world):
    operations.upsert_service("ADM-1", {"desk_rfc": world.a.desk.rfc, "category": "suscripciones", "product": "adm",
                                        "acquisition": "electronica"})
    db.session.commit()
    assert db.session.scalar(select(Service)).product.name == "Aspel ADM"


def test_upsert_desk_sends_one_welcome_per_new_user(app, world):
    data = {"razon_social": "Nueva S.A.", "users": [
        {"email": "uno@nueva.mx", "name": "Uno", "role": "owner"}, {"email": world.b.user.email, "name": "B"}]}
    outcome = operations.upsert_desk("NUE200101AB1", data)
    db.session.commit()
    assert outcome.created and [user.email for user in outcome.new_users] == ["uno@nueva.mx"]
    with pytest.raises(InvalidInput) as caught:
        operations.upsert_desk("NUE200101AB1", {"razon_social": "Nueva S.A.", "users": [
            {"email": "dos@nueva.mx", "name": "Dos"}, {"email": "DOS@nueva.mx", "name": "Dos"}]})
    assert caught.value.fields == {"users[1].email": "Este correo ya está en la lista."}


def test_issue_key_batch_writes_new_valid_unique_keys(app):
    issued = operations.issue_key_batch({"count": 200, "quantity": 100, "unit": "Timbres"}, today=factories.today())
    db.session.commit()
    assert len(set(issued.codes)) == 200 and issued.batch.startswith("api-")
    stored = [key.code for key in db.session.scalars(select(PrepaidKey).where(PrepaidKey.batch == issued.batch))]
    assert sorted(stored) == sorted(issued.codes)


def test_stamp_use_is_kept_apart_from_credits(app, world):
    recorded, balance = operations.report_stamp_use(world.a.desk, {"external_id": "key:7", "quantity": 3})
    db.session.commit()
    assert recorded and balance.used == 3
    assert db.session.scalar(select(StampMovement.external_id)) == "uso:key:7"


def test_tokens_keep_only_a_digest_and_revoked_ones_are_not_found(app):
    token, secret = create_token("billing", ["read"])
    db.session.commit()
    assert token.token_hash == digest(secret) and secret not in token.token_hash
    assert find_token(secret).name == "billing"
    assert find_token(secret + "x") is None and find_token("") is None and find_token("x" * 500) is None
    assert revoke_token("billing") is True
    db.session.commit()
    assert find_token(secret) is None
    assert revoke_token("billing") is False


@pytest.mark.parametrize("name, kind", [("desks.csv", "desks"), ("/tmp/2026-services.csv", "services"),
                                        ("KEYS_legado.csv", "keys")])
def test_the_file_name_says_what_it_holds(name, kind):
    assert kind_of(name) == kind


def test_desk_lookups_by_rfc_forgive_case(app):
    desk = factories.desk(rfc="CBA950612K21")
    assert operations.desk_by_rfc("cba950612k21").id == desk.id
    with pytest.raises(operations.NotFound):
        operations.desk_by_rfc("PES120301Q45")
    assert db.session.query(Desk).count() == 1


def test_keys_issued_in_timbres_of_any_case_are_written_timbres_and_credit_the_balance(app, world):
    """One spelling for the list and the e-mail ("50 Timbres"), and the unit the balance counts."""
    from portal.prepaid.redemption import amount, confirm_key
    from portal.services.stamps import stamp_balance

    issued = operations.issue_key_batch({"count": 1, "quantity": 50, "unit": " timbres "}, factories.today())
    db.session.commit()
    key = db.session.scalars(select(PrepaidKey).where(PrepaidKey.code_digest == code_digest(issued.codes[0]))).one()
    assert key.unit == "Timbres" and amount(key) == "50 Timbres"
    confirm_key(world.b.desk, world.b.user, key.code, "mi_negocio", True, today=factories.today())
    db.session.commit()
    assert stamp_balance(world.b.desk.id).received == 50
