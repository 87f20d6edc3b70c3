"""Exactly once under concurrency: many processes confirm the same key from different desks.

Two ways, on both databases: 200 Confirmar requests (8 client processes × 25) against gunicorn with
4 sync workers, and confirm_key() called directly from 8 interpreters × 25. Exactly one wins; every
other answer is the clear refusal; no error. Also: the brute-force limit is shared by two portal
processes through Redis.
"""
import uuid

import pytest
import requests
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, OutboxMessage, PrepaidKey, StampMovement
from portal import key_codes
from portal.prepaid.steps import make_step_token
from tests import factories
from tests.prepaid_helpers import (call_confirm_key, direct_attempts, gunicorn, http_attempts, post_confirmations, race,
                                   server_config, signed_in_cookies)

pytestmark = [pytest.mark.multiprocess, pytest.mark.stress]
PROCESSES, EACH = 8, 25
REFUSAL = "La clave ya fue activada en otro escritorio."


def _desks(count):
    """`count` desks with their owners, alternately customer (Mi Negocio) and distributor (Distribuidor)."""
    parties = []
    for n in range(count):
        kind = "cliente" if n % 2 == 0 else "distribuidor"
        desk = factories.desk(kind)
        parties.append((desk, factories.user(desk), "mi_negocio" if kind == "cliente" else "distribuidor"))
    return parties


def _claimed_once(key, winner_desk_id):
    db.session.rollback()
    key = db.session.get(PrepaidKey, key.id)
    db.session.refresh(key)
    assert key.desk_id == winner_desk_id
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.event == "prepaid_key_confirmed")) == 1
    assert db.session.scalar(select(func.count()).select_from(StampMovement)) == (
        1 if key.destination == "mi_negocio" else 0)


def test_many_processes_confirm_one_key_over_http_and_exactly_one_wins(app):
    key = factories.prepaid_key()
    parties = _desks(PROCESSES * EACH)
    # Each desk has passed step 1: a session and the step token for this key.
    attempts = [(signed_in_cookies(app, user, desk), make_step_token(desk, user, [key.code]), destination)
                for desk, user, destination in parties]
    with gunicorn(server_config(app), workers=4) as base:
        jobs = [(base, attempts[n * EACH:(n + 1) * EACH]) for n in range(PROCESSES)]
        outcomes = [outcome for batch in race(http_attempts, post_confirmations, jobs) for outcome in batch]

    # Without JS every Confirmar answers 303: the winner to its Aviso, every other one to step 2's
    # page, which shows the refusal with its status.
    assert len(outcomes) == PROCESSES * EACH
    assert {posted for posted, _, _, _ in outcomes} == {303}
    shown = [status for _, _, status, _ in outcomes]
    assert shown.count(200) == 1 and shown.count(409) == PROCESSES * EACH - 1, sorted(set(shown))
    assert all(REFUSAL in body for _, _, status, body in outcomes if status == 409)
    assert all(location.endswith("/claves-prepago/activar/confirmar") for _, location, status, _ in outcomes if status == 409)
    winner = shown.index(200)
    assert outcomes[winner][1].endswith(f"/claves-prepago/activar/aviso?claves={key.id}")
    _claimed_once(key, parties[winner][0].id)


def test_many_processes_call_confirm_key_and_exactly_one_wins(app):
    key = factories.prepaid_key()
    parties = _desks(PROCESSES * EACH)
    attempts = [(desk.id, user.id, destination) for desk, user, destination in parties]
    config = server_config(app)
    jobs = [(config, key.code, attempts[n * EACH:(n + 1) * EACH]) for n in range(PROCESSES)]
    batches = race(direct_attempts, call_confirm_key, jobs)
    outcomes = [outcome for batch in batches for outcome in batch]
    assert len(outcomes) == PROCESSES * EACH
    assert [o for o in outcomes if o.startswith("error")] == []
    assert outcomes.count("ok") == 1
    assert outcomes.count("key_used_elsewhere") == PROCESSES * EACH - 1
    _claimed_once(key, parties[outcomes.index("ok")][0].id)


# --- the brute-force limit, shared through Redis -------------------------------------------------

def test_failed_validations_are_counted_across_processes_through_redis(app, redis_url):
    key = factories.prepaid_key()
    desk = factories.desk("distribuidor")
    user = factories.user(desk)
    config = server_config(app, RATELIMIT_STORAGE_URI=redis_url, RATELIMIT_KEY_PREFIX="prepaid-" + uuid.uuid4().hex)
    with gunicorn(config, workers=1) as first, gunicorn(config, workers=1) as second:
        session = requests.Session()
        signed_in = session.post(first + "/cuenta/ingresar", data={"email": user.email, "password": factories.PASSWORD},
                                 allow_redirects=False, timeout=30)
        assert signed_in.status_code == 303
        for n in range(10):
            # Alternate processes: neither alone has seen ten failures.
            base = first if n % 2 == 0 else second
            failed = session.post(base + "/claves-prepago/activar", data={"keys": key_codes.generate()}, timeout=30)
            assert failed.status_code == 422 and "La clave no existe." in failed.text
        for base in (first, second):
            blocked = session.post(base + "/claves-prepago/activar", data={"keys": key.code}, timeout=30)
            assert blocked.status_code == 429
            assert "Demasiados intentos fallidos de validar claves." in blocked.text
    db.session.rollback()
    assert db.session.get(PrepaidKey, key.id).status == "nueva"
