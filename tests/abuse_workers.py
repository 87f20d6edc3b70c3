"""What the abuse suite runs in other processes (spawned by prepaid_helpers.race, or as workers).

Each `prepare` builds the portal in the child; each `fire` runs once all children are ready, so the
attempts really overlap. Outcomes are plain strings the test counts.
"""
import time

import requests

from portal import clock
from tests.clock_helpers import TIMEZONE

REFUSAL_ELSEWHERE = "La clave ya fue activada en otro escritorio."
ALREADY_HERE = "La clave ya está activada en este escritorio."


# --- Confirmar over HTTP, spread over several gunicorn instances ---------------------------------

def http_confirmations(job):
    """prepare: nothing to load; job is ([base URLs], [(party index, cookies, step token, destination)])."""
    return job


def post_htmx_confirmations(job):
    """fire: POST Confirmar as htmx would (the answer names the outcome), each to the next instance."""
    bases, attempts = job
    outcomes = []
    for n, (party, cookies, token, destination) in enumerate(attempts):
        response = requests.post(bases[n % len(bases)] + "/claves-prepago/activar/confirmar", cookies=cookies,
                                 headers={"HX-Request": "true"}, allow_redirects=False, timeout=120,
                                 data={"token": token, "destination": destination, "accept_license": "y"})
        outcomes.append((party, response.status_code, _confirmation_outcome(response)))
    return outcomes


def _confirmation_outcome(response):
    body = response.text
    if response.status_code >= 500:
        return "5xx"
    if response.status_code == 200 and "activada (incluye" in body:
        return "won"
    if response.status_code == 200 and ALREADY_HERE in body:
        return "already_here"
    if response.status_code == 409 and REFUSAL_ELSEWHERE in body:
        return "elsewhere"
    return f"other {response.status_code}: {body[:200]}"


# --- claims called directly: the real one, and a naive read-then-write one -----------------------

def claim_attempts(job):
    """prepare: the portal in this interpreter inside a request of `method` (POST: as a view runs)."""
    config, code, attempts, method, naive = job
    from portal import create_app
    from portal.extensions import db
    from portal.models import Desk, User
    from portal.request_units import work_for
    from portal.units import enter

    app = create_app(config)
    context = app.test_request_context("/claves-prepago/activar/confirmar", method=method)
    context.push()
    enter(db.session, work_for(None, method))  # the unit a request of `method` runs in
    pairs = [(db.session.get(Desk, d), db.session.get(User, u), dest) for d, u, dest in attempts]
    db.session.rollback()
    return code, pairs, naive


def fire_claims(state):
    """fire: claim the key once per (desk, user, destination); "ok", a refusal code, or "error: …"."""
    from portal.prepaid.redemption import confirm_key
    from tests.prepaid_helpers import claim_each

    code, pairs, naive = state
    return claim_each(naive_claim if naive else confirm_key, code, pairs)


def naive_claim(desk, user, code, destination, accepted_license, *, today):
    """The mutation: read the key, check it is new, then write — the check-then-act bug the real
    confirm_key avoids with one conditional UPDATE."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import PrepaidKey
    from portal.models.prepaid import code_digest
    from portal.prepaid.redemption import KeyUsedElsewhere

    key = db.session.scalar(select(PrepaidKey).where(PrepaidKey.code_digest == code_digest(code)))
    if key.status != "nueva":
        raise KeyUsedElsewhere()
    time.sleep(0.05)  # work between the check and the write, as real code has (and a sure overlap)
    key.status, key.desk_id, key.destination, key.confirmed_on = "disponible", desk.id, destination, today
    db.session.flush()
    return key


# --- assign_key -----------------------------------------------------------------------------------

def assignment_attempts(job):
    """prepare: the portal in this interpreter inside a POST request, as the API runs it."""
    config, code, clients = job
    from portal import create_app
    from portal.extensions import db
    from portal.request_units import work_for
    from portal.units import enter

    app = create_app(config)
    app.test_request_context("/api/v1/keys/x/assignment", method="POST").push()
    enter(db.session, work_for(None, "POST"))  # the unit a request of that method runs in
    return code, clients


def fire_assignments(state):
    """fire: assign the key to each (rfc, name); "assigned", "unchanged", a refusal code or "error: …"."""
    from portal.extensions import db
    from portal.prepaid.redemption import RedemptionError, assign_key

    code, clients = state
    outcomes = []
    for rfc, name in clients:
        try:
            result = assign_key(code, rfc, name, clock.today(TIMEZONE), actor="carrera")
            db.session.commit()
            outcomes.append("assigned" if result.changed else "unchanged")
        except RedemptionError as refusal:
            db.session.rollback()
            outcomes.append(refusal.code)
        except Exception as error:  # noqa: BLE001
            db.session.rollback()
            outcomes.append(f"error: {type(error).__name__}: {error}"[:300])
    return outcomes


# --- outbox workers -------------------------------------------------------------------------------

def outbox_worker(config):
    """prepare: the portal in this interpreter, as `flask outbox deliver --loop` runs it."""
    from portal import create_app

    app = create_app(config)
    app.app_context().push()
    return app


def deliver_until_empty(app):
    """fire: deliver until nothing is due; how many messages this worker sent."""
    from portal.mail.outbox import deliver_round

    total = 0
    while True:
        sent, failed = deliver_round(limit=20)
        total += sent
        if not sent and not failed:
            return total
