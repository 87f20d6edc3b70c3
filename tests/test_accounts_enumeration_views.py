"""Enumeration: registration, reset, sign-in and e-mail change answer alike for known and unknown addresses.

Same status, same body (once the address typed and per-request tokens are blanked out), and no
timing gap. Timing, robustly on a busy 2-core machine: requests go in pairs (one known, one unknown
address, back to back, the order alternating), and the median of the paired differences must be
within three standard errors of zero (or 8 ms, the jitter of a busy 2-core machine). The test runs a
real scrypt cost and checks that its bound is below half of one hash, so a path that skipped the
hash for unknown addresses (the classic leak) would fail here; a machine too busy to tell is
measured again, up to three rounds.
"""
import math
import re
import statistics
import time

import pytest
from werkzeug.security import check_password_hash, generate_password_hash

from portal.models import User
from tests import factories
from tests.abuse_helpers import record_figure, scale

pytestmark = [pytest.mark.abuse, pytest.mark.stress]
HASH = "scrypt:16384:8:1"  # a real cost (production's is 32768), affordable for a few hundred requests
TOKENS = re.compile(r'(name="csrf_token"[^>]*value=")[^"]*|("X-CSRFToken": ")[^"]*')
FLOOR = 0.008  # the jitter of one request here when colleagues' tests share the 2 cores
ROUNDS = 3


@pytest.fixture(autouse=True)
def no_limits_in_the_way(app, monkeypatch):
    """The limits count known and unknown addresses alike (tests/test_accounts_views.py checks it);
    here they would only stop the measurement after a few requests."""
    monkeypatch.setitem(app.config, "RATELIMIT_FACTOR", 100000)


def _normalised(response, address):
    body = response.get_data(as_text=True).replace(address, "<correo>")
    return response.status_code, response.headers.get("Location"), TOKENS.sub(r"\1\2<token>", body)


def _hash_cost():
    digest = generate_password_hash("medida", method=HASH)
    started = time.perf_counter()
    for _ in range(5):
        check_password_hash(digest, "otra")
    return (time.perf_counter() - started) / 5


def _measure(send, known, unknown, answers):
    """Paired differences (known − unknown) of answer times, in seconds; answers collected by group."""
    differences = []
    for n, pair in enumerate(zip(known, unknown)):
        order = [("known", pair[0]), ("unknown", pair[1])]
        took = {}
        for group, address in order if n % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            response = send(address)
            took[group] = time.perf_counter() - started
            answers[group].add(_normalised(response, address))
        differences.append(took["known"] - took["unknown"])
    return differences


def _compare(flow, send, known, unknown):
    """Send to known and unknown addresses in pairs; assert alike answers and no timing gap."""
    answers = {"known": set(), "unknown": set()}
    hash_cost = _hash_cost()
    size = len(known) // ROUNDS
    for round_ in range(ROUNDS):
        batch = slice(round_ * size, (round_ + 1) * size)
        differences = _measure(send, known[batch], unknown[batch], answers)
        gap = statistics.median(differences)
        mad = statistics.median(abs(d - gap) for d in differences)
        standard_error = 1.2533 * 1.4826 * mad / math.sqrt(len(differences))
        bound = max(3 * standard_error, FLOOR)
        if bound < hash_cost / 2:
            break
    record_figure(f"enumeración: {flow}, {len(differences)} pares de correo existente y desconocido",
                  f"respuestas distintas: {len(answers['known'] | answers['unknown'])}; diferencia mediana "
                  f"{gap * 1000:+.1f} ms (error estándar {standard_error * 1000:.1f} ms, un hash "
                  f"{hash_cost * 1000:.0f} ms, ronda {round_ + 1})", f"1 respuesta; |diferencia| ≤ {bound * 1000:.1f} ms")
    assert len(answers["known"]) == 1 and answers["known"] == answers["unknown"], flow
    assert bound < hash_cost / 2, "la máquina está demasiado ocupada para distinguir un hash omitido"
    assert abs(gap) <= bound, (flow, gap, standard_error)


@pytest.fixture
def people(app):
    """N accounts with known addresses, and N addresses nobody has; passwords at the real cost."""
    from portal.extensions import db

    count = ROUNDS * scale(30, 100)  # a round of pairs, and more rounds if the machine is too busy
    desk = factories.desk()
    known = [factories.user(desk, email=f"conocida{n}@empresa-enum.mx", role="member").email for n in range(count)]
    hashed = generate_password_hash(factories.PASSWORD, method=HASH)  # once for all: they share it
    db.session.execute(User.__table__.update().values(password_hash=hashed))
    db.session.commit()
    app.config["PASSWORD_HASH_METHOD"] = HASH
    return known, [f"desconocida{n}@empresa-enum.mx" for n in range(count)]


def test_sign_in_answers_alike(app, client, people):
    known, unknown = people
    _compare("inicio de sesión", lambda email: client.post("/cuenta/ingresar", data={
        "email": email, "password": "no-es-la-clave-9"}), known, unknown)


def test_password_reset_request_answers_alike(app, client, people):
    known, unknown = people
    _compare("recuperar contraseña", lambda email: client.post("/cuenta/recuperar", data={"email": email}),
             known, unknown)


def test_registration_answers_alike(app, client, people):
    from tests.accounts_helpers import sign_up_data

    known, unknown = people
    rfcs = iter(factories.rfc("ENU") for _ in range(2 * len(known)))
    _compare("crear cuenta", lambda email: client.post("/cuenta/crear", data=sign_up_data(
        email=email, rfc=next(rfcs))), known, unknown)


def test_email_change_answers_alike(app, client, world, people, login):
    known, unknown = people
    login(world.a.user)
    _compare("cambio de correo (htmx)", lambda email: client.post("/perfil/correo", headers={"HX-Request": "true"}, data={
        "email-new_email": email, "email-current_password": factories.PASSWORD}), known, unknown)
