"""Mail outages: SMTP stopped, SMTP silent, several outbox workers, a rolled-back change.

Requests never talk to SMTP (the outbox does, later), so an outage slows no page and loses no
message: the worker retries with backoff until the server is back, and sends each message once.
The backoff is compressed in these tests (1 s instead of 30 s per step) so a CI run shows in
seconds what production does in minutes; `make stress` keeps the server down for 60 s.
"""
import socket
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from portal import clock
from portal.extensions import db
from portal.mail import outbox
from portal.models import OutboxMessage
from tests import abuse_workers, factories
from tests.abuse_helpers import record_figure, scale
from tests.conftest import SmtpServer
from tests.prepaid_helpers import race, server_config

pytestmark = pytest.mark.abuse  # the fault and abuse suite (docs/TESTING.md)

RESEND_LIMIT_PER_DESK = 20  # portal/cda/resend.py PER_DESK: 20 a day


class RestartableSmtp(SmtpServer):
    """The test SMTP server, which can be stopped and started again on the same port."""

    def start(self):
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        super().start()


class SilentServer:
    """Accepts TCP connections and never says a word (a hung mail relay)."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self):
        self.listener.close()
        for connection in self.held:
            connection.close()


def _point_mail_at(app, port):
    app.config["MAIL_PORT"] = port
    app.extensions["mail"].port = port


def _message_ids(messages):
    return [m["message"]["Message-ID"] for m in messages]


def _systems_to_resend(app, count):
    """`count` electronic systems spread over desks (20 resends a day per desk), a signed-in client each."""
    parties = []
    for start in range(0, count, RESEND_LIMIT_PER_DESK):
        desk = factories.desk()
        user = factories.user(desk)
        browser = app.test_client()
        browser.post("/cuenta/ingresar", data={"email": user.email, "password": factories.PASSWORD})
        for _ in range(min(RESEND_LIMIT_PER_DESK, count - start)):
            service = factories.service(desk)
            parties.append((browser, service.serial, service.cda, user.email))
    return parties


@pytest.fixture
def worker(app):
    """worker() starts `flask outbox deliver --loop`'s loop in a thread; it stops with the test."""
    stop = threading.Event()
    threads = []

    def _start():
        def _run():
            with app.app_context():
                outbox.run_worker(interval=0.2, stop=stop.is_set)

        thread = threading.Thread(target=_run, daemon=True)
        thread.start()
        threads.append(thread)

    yield _start
    stop.set()
    for thread in threads:
        thread.join(timeout=30)


def _wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.mark.stress
def test_smtp_stopped_during_cda_resends_loses_and_duplicates_nothing(app, worker, monkeypatch):
    count, outage = scale(20, 100), scale(5, 60)
    monkeypatch.setattr(outbox, "BACKOFF_BASE_SECONDS", 1)  # 30 s in production: time compressed 30×
    smtp = RestartableSmtp()
    smtp.start()
    _point_mail_at(app, smtp.port)
    parties = _systems_to_resend(app, count)
    db.session.rollback()
    worker()

    smtp.stop()
    began = time.monotonic()
    statuses, slowest = [], 0.0
    for n, (browser, serial, _cda, _email) in enumerate(parties):
        # Spread over the outage, as users would be.
        time.sleep(max(0.0, began + outage * n / count - time.monotonic()))
        started = time.monotonic()
        response = browser.post(f"/servicios/{serial}/reenviar-cda", headers={"HX-Request": "true"})
        slowest = max(slowest, time.monotonic() - started)
        statuses.append(response.status_code)
    time.sleep(max(0.0, began + outage - time.monotonic()))
    failed_during_outage = db.session.scalar(select(func.count()).select_from(OutboxMessage)
                                             .where(OutboxMessage.last_error.is_not(None)))
    db.session.rollback()
    smtp.start()
    try:
        delivered_all = _wait_for(lambda: len(smtp.messages) >= count, seconds=outage + 60)
        time.sleep(1)  # a duplicate would arrive now
    finally:
        smtp.stop()

    ids = _message_ids(smtp.messages)
    cdas = [cda for _, _, cda, _ in parties]
    bodies = [m["raw"] for m in smtp.messages]
    lost = sum(1 for cda in cdas if not any(cda in body for body in bodies))
    record_figure(f"correo: SMTP detenido {outage} s durante {count} reenvíos de CDA",
                  f"{sum(s >= 500 for s in statuses)} 5xx, solicitud más lenta {slowest * 1000:.0f} ms, "
                  f"{failed_during_outage} mensajes con intento fallido, {len(smtp.messages)} entregados, "
                  f"{lost} perdidos, {len(ids) - len(set(ids))} duplicados",
                  f"0 5xx, rápidas, {count} entregados, 0 perdidos, 0 duplicados")
    assert statuses == [200] * count
    # A request that waited on SMTP would take at least a connection attempt and its timeout.
    assert slowest < app.config["MAIL_TIMEOUT"]
    assert failed_during_outage > 0  # the outage really was met by the worker
    assert delivered_all and lost == 0
    assert len(ids) == len(set(ids)) == count
    db.session.rollback()
    assert set(db.session.scalars(select(OutboxMessage.status))) == {"enviado"}


@pytest.mark.app_config(MAIL_TIMEOUT=1)
def test_a_server_that_accepts_and_never_answers_hangs_nothing(app, client, smtp, login, world):
    silent = SilentServer()
    _point_mail_at(app, silent.port)
    service = factories.service(world.a.desk)
    login(world.a.user)
    try:
        started = time.monotonic()
        response = client.post(f"/servicios/{service.serial}/reenviar-cda", headers={"HX-Request": "true"})
        request_took = time.monotonic() - started
        db.session.rollback()
        started = time.monotonic()
        with app.app_context():
            result = outbox.deliver_pending()
        worker_took = time.monotonic() - started
    finally:
        silent.close()
    db.session.rollback()
    message = db.session.scalar(select(OutboxMessage))
    record_figure("correo: servidor que acepta TCP y nunca responde (MAIL_TIMEOUT=1 s)",
                  f"solicitud {request_took * 1000:.0f} ms, repartidor libre en {worker_took:.1f} s, "
                  f"mensaje {message.status} con {message.attempts} intento(s)",
                  "sin solicitudes ni repartidores colgados; el mensaje se reintenta")
    assert response.status_code == 200
    assert request_took < 1 and worker_took < 1 + 2  # the timeout, not forever
    assert result == (0, 1)
    assert message.status == "pendiente" and message.attempts == 1 and "timed out" in message.last_error.lower()

    # The real server is back: the retry goes out, once.
    _point_mail_at(app, smtp.port)
    db.session.execute(OutboxMessage.__table__.update().values(next_attempt_at=clock.now()))
    db.session.commit()
    with app.app_context():
        assert outbox.deliver_pending() == (1, 0)
    assert len(smtp.messages) == 1 and service.cda in smtp.messages[0]["raw"]


@pytest.mark.multiprocess
@pytest.mark.stress
def test_three_outbox_workers_deliver_each_message_once(app, smtp, backend):
    # FOR UPDATE SKIP LOCKED is PostgreSQL's; SQLite's BEGIN IMMEDIATE serialises the claims (fewer in CI).
    count = scale(1000 if backend == "postgresql" else 300, 3000)
    with app.app_context():
        for n in range(count):
            outbox.enqueue(f"destino{n}@empresa.mx", f"Mensaje {n}", "cda", name="Ana", product="Aspel SAE",
                           version="9.0", serial=f"SAE{n:09d}", cda=f"CDA-{n:06d}")
        db.session.commit()
        expected = set(db.session.scalars(select(OutboxMessage.message_id)))
    db.session.rollback()
    config = server_config(app)
    sent = race(abuse_workers.outbox_worker, abuse_workers.deliver_until_empty, [config] * 3)
    ids = _message_ids(smtp.messages)
    record_figure(f"correo: 3 repartidores (procesos) sobre {count} mensajes",
                  f"{len(set(ids))} Message-ID distintos, {len(ids) - len(set(ids))} duplicados, "
                  f"reparto {'/'.join(str(s) for s in sent)}",
                  f"{count} distintos, 0 duplicados")
    assert sorted(ids) == sorted(expected) and len(ids) == count
    assert sum(sent) == count
    if backend == "postgresql":
        # SKIP LOCKED lets the three work side by side; SQLite hands its write lock to one at a time
        # and may starve one worker for the whole run, which is slower but loses and repeats nothing.
        assert all(s > 0 for s in sent), sent


def test_a_rolled_back_change_sends_nothing(app, client, smtp, login, world, monkeypatch):
    service = factories.service(world.a.desk)
    login(world.a.user)
    # A failure after the CDA e-mail was queued, in the same request: the whole change goes.
    from portal.cda import resend

    def failing_audit(*args, **kwargs):
        raise RuntimeError("fallo simulado después de encolar")

    monkeypatch.setattr(resend.audit, "record", failing_audit)
    response = client.post(f"/servicios/{service.serial}/reenviar-cda", headers={"HX-Request": "true"})
    monkeypatch.undo()
    with app.app_context():
        outbox.enqueue("alguien@empresa.mx", "Prueba", "cda", name="Ana", product="SAE", version="9", serial="X",
                       cda="CDA-REVERTIDO")
        db.session.rollback()
        result = outbox.deliver_pending()
    queued = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    record_figure("correo: transacciones revertidas después de encolar (vista y regla)",
                  f"{queued} en el buzón, {len(smtp.messages)} enviados", "0 enviados")
    assert response.status_code == 500 and service.cda not in response.get_data(as_text=True)
    assert result == (0, 0) and queued == 0 and smtp.messages == []
