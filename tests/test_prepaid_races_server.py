"""Keys under races: one key, many desks, several gunicorn instances — exactly one claim.

PostgreSQL: two gunicorn instances sharing one database and one Redis; SQLite: one instance with
four workers on one file (WAL, busy timeout, BEGIN IMMEDIATE), where "database is locked" must
never reach anyone. Then 50 simultaneous assignments of one key to different clients, and the
mutation check: the same kind of race against a naive read-then-write claim does find duplicates
(or, on SQLite without BEGIN IMMEDIATE, locking errors) — so a pass here means something.
"""
import contextlib
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Client, OutboxMessage, PrepaidKey, StampMovement
from portal.prepaid.steps import make_step_token
from portal.services.stamps import stamp_balance
from tests import abuse_workers, factories
from tests.abuse_helpers import record_figure, scale
from tests.prepaid_helpers import REDIS_URL, gunicorn, race, redis_or_skip, server_config, signed_in_cookies

pytestmark = [pytest.mark.abuse, pytest.mark.multiprocess, pytest.mark.stress]
DESKS = 20
PER_DESK = 10  # 200 confirmations of one key


def _count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _chunks(items, count):
    """`items` dealt round-robin into `count` lists (each client process gets every desk's turns)."""
    return [items[n::count] for n in range(count)]


@contextlib.contextmanager
def _portal_instances(app, backend, log):
    """PostgreSQL + Redis: two gunicorn instances; SQLite: one instance with four workers."""
    if backend == "postgresql":
        redis_or_skip()
        config = server_config(app, RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX="carrera-" + uuid.uuid4().hex)
        workers = scale(2, 4)
        with gunicorn(config, workers, log=log) as first, gunicorn(config, workers, log=log) as second:
            yield [first, second], f"2 gunicorn × {workers} workers, PostgreSQL + Redis"
    else:
        with gunicorn(server_config(app), 4, log=log) as only:
            yield [only], "1 gunicorn × 4 workers, SQLite WAL"


def test_two_hundred_confirmations_of_one_key_from_twenty_desks(app, backend, tmp_path):
    key = factories.prepaid_key(quantity=50, unit="Timbres")
    parties = []
    for _ in range(DESKS):
        desk = factories.desk("cliente")
        user = factories.user(desk)
        parties.append((desk, signed_in_cookies(app, user, desk), make_step_token(desk, user, [key.code])))
    attempts = [(n, cookies, token, "mi_negocio") for _ in range(PER_DESK) for n, (_, cookies, token) in enumerate(parties)]
    log = tmp_path / "gunicorn.log"
    with _portal_instances(app, backend, log) as (bases, setup):
        jobs = [(bases, chunk) for chunk in _chunks(attempts, scale(4, 10))]
        outcomes = [o for batch in race(abuse_workers.http_confirmations, abuse_workers.post_htmx_confirmations, jobs)
                    for o in batch]

    kinds = [kind for _, _, kind in outcomes]
    won = [party for party, _, kind in outcomes if kind == "won"]
    locked = Path(log).read_text(errors="replace").count("database is locked")
    db.session.rollback()
    key = db.session.get(PrepaidKey, key.id)
    credited = _count(StampMovement, StampMovement.desk_id == key.desk_id)
    refusals = kinds.count("elsewhere") + kinds.count("already_here")
    record_figure(f"claves: {len(outcomes)} confirmaciones de una clave desde {DESKS} escritorios ({setup})",
                  f"{len(won)} éxito, {refusals} rechazos claros ({kinds.count('elsewhere')} «otro escritorio», "
                  f"{kinds.count('already_here')} «ya está en este»), {kinds.count('5xx')} 5xx, "
                  f"timbres acreditados {credited} vez, {locked} «database is locked»",
                  f"1 éxito, {len(outcomes) - 1} rechazos, 0 5xx, timbres 1 vez, 0 locked")
    assert len(outcomes) == DESKS * PER_DESK
    assert [k for k in kinds if k not in ("won", "elsewhere", "already_here")] == []
    assert len(won) == 1 and locked == 0
    winner = parties[won[0]][0]
    # The winning desk's other attempts are double submits: told the key is already theirs.
    assert kinds.count("already_here") == PER_DESK - 1 and kinds.count("elsewhere") == len(outcomes) - PER_DESK
    assert key.desk_id == winner.id and key.status == "utilizada"
    assert credited == 1 and stamp_balance(winner.id).available == 50
    assert _count(AuditEvent, AuditEvent.event == "prepaid_key_confirmed") == 1
    assert _count(OutboxMessage, OutboxMessage.kind == "prepaid_key_confirmed") == 1


def _claim_race(app, key, processes, each, method, naive):
    """`processes` interpreters × `each` claims of `key` from as many new desks; the outcomes."""
    attempts = []
    for _ in range(processes * each):
        desk = factories.desk("cliente")
        attempts.append((desk.id, factories.user(desk).id, "mi_negocio"))
    config = server_config(app)
    jobs = [(config, key.code, chunk, method, naive) for chunk in _chunks(attempts, processes)]
    # End the read that loaded those ids: on SQLite a snapshot kept across the race would refuse
    # this session's next write.
    db.session.rollback()
    return [o for batch in race(abuse_workers.claim_attempts, abuse_workers.fire_claims, jobs) for o in batch]


def _problems(outcomes):
    """What a race test flags: anything but exactly one claim and clear refusals."""
    problems = []
    if outcomes.count("ok") != 1:
        problems.append(f"{outcomes.count('ok')} reclamos de una sola clave")
    errors = [o for o in outcomes if o.startswith("error")]
    if errors:
        problems.append(f"{len(errors)} errores ({errors[0][:80]})")
    return problems


def test_the_race_check_catches_a_naive_read_then_write_claim(app, backend):
    processes, each = scale(4, 8), scale(3, 10)
    # The real claim, in the same harness: clean.
    real = _claim_race(app, factories.prepaid_key(), processes, each, "POST", naive=False)
    # The mutation: read, check, write. On SQLite it also runs without BEGIN IMMEDIATE (a GET's
    # deferred transaction), or SQLite's whole-transaction lock would hide the bug.
    naive = _claim_race(app, factories.prepaid_key(), processes, each, "GET" if backend == "sqlite" else "POST",
                        naive=True)
    found = _problems(naive)
    record_figure(f"claves: mutación con reclamo ingenuo (leer y luego escribir), {processes} procesos",
                  "; ".join(found) or "ningún problema detectado", "la prueba de carrera lo detecta (≥ 2 reclamos o errores)")
    assert _problems(real) == []
    assert found, naive
    if backend == "postgresql":
        assert naive.count("ok") >= 2  # READ COMMITTED: every reader of "nueva" writes its claim


def test_fifty_simultaneous_assignments_of_one_key_assign_it_once(app):
    distributor = factories.desk("distribuidor")
    key = factories.prepaid_key(distributor)  # Disponible in the distributor's desk
    clients = [(factories.rfc("CLI"), f"Cliente en carrera {n}") for n in range(50)]
    config = server_config(app)
    jobs = [(config, key.code, chunk) for chunk in _chunks(clients, 5)]
    outcomes = [o for batch in race(abuse_workers.assignment_attempts, abuse_workers.fire_assignments, jobs)
                for o in batch]
    record_figure("claves: 50 asignaciones simultáneas de una clave a clientes distintos",
                  f"{outcomes.count('assigned')} asignada, {outcomes.count('client_conflict')} conflictos (409), "
                  f"{sum(o.startswith('error') for o in outcomes)} errores", "exactamente 1 asignada")
    assert outcomes.count("assigned") == 1
    assert outcomes.count("client_conflict") == 49
    db.session.rollback()
    key = db.session.get(PrepaidKey, key.id)
    assert key.status == "utilizada"
    # No refused assignment left a client row behind.
    assert _count(Client, Client.desk_id == distributor.id) == 1
    assert _count(AuditEvent, AuditEvent.event == "prepaid_key_assigned") == 1
