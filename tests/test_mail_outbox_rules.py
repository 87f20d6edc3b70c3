"""The outbox: mail written with the change, delivered over real SMTP or to .eml files."""
import pytest

from portal.extensions import db
from portal.mail.outbox import deliver_pending, enqueue
from portal.models import OutboxMessage
from tests.conftest import body_of


def _enqueue_test_message(to="ana@empresa.mx"):
    return enqueue(to, "Prueba de correo", "test_message", nombre="Ana")


@pytest.fixture(autouse=True)
def test_template(app, tmp_path):
    # A template of the test's own: the outbox does not care which message it carries.
    from jinja2 import ChoiceLoader, DictLoader
    app.jinja_loader  # noqa: B018
    app.jinja_env.loader = ChoiceLoader([
        DictLoader({"mail/test_message.txt": "Hola {{ nombre }}, ñandú y acentos.",
                    "mail/test_message.html": "<p>Hola {{ nombre }}</p>"}),
        app.jinja_env.loader,
    ])


def test_enqueued_mail_reaches_a_real_smtp_server(app, smtp):
    _enqueue_test_message()
    db.session.commit()
    assert deliver_pending() == (1, 0)
    assert len(smtp.messages) == 1
    received = smtp.messages[0]
    assert received["to"] == ["ana@empresa.mx"]
    assert received["message"]["Subject"] == "Prueba de correo"
    assert "Hola Ana, ñandú y acentos." in body_of(received["message"])
    assert "<p>Hola Ana</p>" in body_of(received["message"], "html")
    stored = db.session.query(OutboxMessage).one()
    assert stored.status == "enviado" and stored.sent_at is not None
    assert received["message"]["Message-ID"] == stored.message_id
    assert stored.body_text == ""  # a delivered body (maybe a CDA) is not kept
    assert deliver_pending() == (0, 0)
    assert len(smtp.messages) == 1


def test_without_smtp_server_mail_is_written_as_eml_files(app, tmp_path, smtp):
    app.config["MAIL_SERVER"] = ""
    _enqueue_test_message()
    db.session.commit()
    assert deliver_pending() == (1, 0)
    files = list((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 1
    assert b"Prueba de correo" in files[0].read_bytes()
    assert smtp.messages == []


def test_a_rolled_back_change_sends_nothing(app, smtp):
    _enqueue_test_message()
    db.session.rollback()
    assert deliver_pending() == (0, 0)
    assert smtp.messages == []


def test_smtp_down_keeps_the_message_and_retries_later(app, smtp):
    from datetime import timedelta

    from portal import clock

    app.config["MAIL_PORT"] = 1  # nothing listens there
    app.extensions["mail"].port = 1
    _enqueue_test_message()
    db.session.commit()
    assert deliver_pending() == (0, 1)
    message = db.session.query(OutboxMessage).one()
    assert message.status == "pendiente" and message.attempts == 1 and message.last_error
    assert message.next_attempt_at.replace(tzinfo=None) > clock.now().replace(tzinfo=None)
    # The server comes back; once the backoff has passed the message goes out, once.
    app.extensions["mail"].port = smtp.port
    message.next_attempt_at = clock.now() - timedelta(seconds=1)
    db.session.commit()
    assert deliver_pending() == (1, 0)
    assert len(smtp.messages) == 1


def test_a_message_that_ends_in_error_keeps_no_secret(app, smtp):
    from datetime import timedelta

    from portal import clock

    app.config["OUTBOX_MAX_ATTEMPTS"] = 2
    app.extensions["mail"].port = 1  # nothing listens there
    enqueue("ana@empresa.mx", "Tu CDA", "cda", name="Ana", product="SAE", version="9", serial="S-1", cda="CDA-SECRETO-1")
    db.session.commit()
    for _ in range(2):
        db.session.query(OutboxMessage).update({"next_attempt_at": clock.now() - timedelta(seconds=1)})
        db.session.commit()
        deliver_pending()
    message = db.session.query(OutboxMessage).one()
    assert message.status == "error" and message.attempts == 2 and message.last_error
    assert message.body_text == "" and message.body_html is None  # no CDA, no link kept


def test_outbox_purge_deletes_old_sent_and_failed_messages_only(app, smtp):
    from datetime import timedelta, timezone

    from portal import clock

    for status, age in (("enviado", 40), ("error", 40), ("pendiente", 40), ("enviado", 5)):
        message = _enqueue_test_message()
        message.status, message.created_at = status, clock.now() - timedelta(days=age)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["outbox", "purge", "--older-than", "30"])
    assert result.exit_code == 0, result.output
    assert "Mensajes borrados: 2." in result.output
    left = sorted((m.status, (clock.now() - m.created_at.replace(tzinfo=timezone.utc)).days)
                  for m in db.session.query(OutboxMessage))
    assert left == [("enviado", 5), ("pendiente", 40)]
    refused = app.test_cli_runner().invoke(args=["outbox", "purge", "--older-than", "ayer"])
    assert refused.exit_code != 0


def test_the_cli_delivers_the_outbox(app, smtp):
    _enqueue_test_message()
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["outbox", "deliver"])
    assert result.exit_code == 0, result.output
    assert "Enviados: 1" in result.output
    assert len(smtp.messages) == 1


def test_long_accented_subjects_arrive_exactly_as_written(app, smtp):
    subject = ("Código de Activación (CDA) de Aspel FACTURE — No. Serie FACTURE369516155: "
               "define tu contraseña más segura")
    enqueue("ana@empresa.mx", subject, "test_message", nombre="Ana")
    db.session.commit()
    assert deliver_pending() == (1, 0)
    received = smtp.messages[0]
    assert received["message"]["Subject"] == subject
    assert max(len(line) for line in received["raw"].splitlines()) <= 78


def test_mail_can_be_written_outside_any_request(app, smtp):
    """The CLI import and the worker enqueue mail with no request: the layout context must not need one."""
    import threading

    from flask import render_template
    result = {}

    def outside_request():  # a new thread starts with no context at all, as `flask portal import` does
        with app.app_context():
            try:
                result["text"] = render_template("mail/test_message.txt", nombre="Ana")
            except Exception as error:  # noqa: BLE001 - reported below
                result["error"] = repr(error)

    thread = threading.Thread(target=outside_request)
    thread.start()
    thread.join()
    assert result.get("error") is None
    assert "Hola Ana" in result["text"]


SECRET_CDA = "CDA-SECRETO-7"


@pytest.mark.parametrize("failure", ["encabezado-roto", "fallo-inesperado"])
def test_any_failure_is_an_attempt_and_the_rest_of_the_batch_still_goes(app, smtp, caplog, monkeypatch, failure):
    """Not only SMTP and network errors: a message that fails any other way counts an attempt, the
    messages after it go out, after the last attempt it is `error`, and the log keeps no secret."""
    import logging
    from datetime import timedelta

    from portal.mail.outbox import TimedConnection
    from portal import clock

    app.config["OUTBOX_MAX_ATTEMPTS"] = 2
    if failure == "encabezado-roto":
        # A line break in the recipient: Flask-Mail refuses the header (BadHeaderError, no SMTP error).
        broken = "luis@empresa.mx\r\nBcc: espia@otra.mx"
    else:
        broken = "luis@empresa.mx"
        real_send = TimedConnection.send

        def send(connection, mail, *args, **kwargs):
            if mail.recipients == [broken]:  # this message only; its error quotes the body, CDA included
                raise RuntimeError(f"no se pudo enviar: {mail.body}")
            return real_send(connection, mail, *args, **kwargs)

        monkeypatch.setattr(TimedConnection, "send", send)
    _enqueue_test_message("ana@empresa.mx")
    failing = enqueue(broken, "Tu CDA", "cda", name="Luis", product="SAE", version="9", serial="S-1", cda=SECRET_CDA)
    _enqueue_test_message("eva@empresa.mx")
    db.session.commit()
    failing_id = failing.id

    with caplog.at_level(logging.WARNING, logger="portal.outbox"):
        assert deliver_pending() == (2, 1)
        assert sorted(m["to"][0] for m in smtp.messages) == ["ana@empresa.mx", "eva@empresa.mx"]
        db.session.expire_all()
        message = db.session.get(OutboxMessage, failing_id)
        assert (message.status, message.attempts) == ("pendiente", 1)
        assert message.next_attempt_at.replace(tzinfo=None) > clock.now().replace(tzinfo=None)  # backoff, not the lease

        message.next_attempt_at = clock.now() - timedelta(seconds=1)
        db.session.commit()
        assert deliver_pending() == (0, 1)
        db.session.expire_all()
        message = db.session.get(OutboxMessage, failing_id)
        assert (message.status, message.attempts) == ("error", 2)
        assert message.body_text == "" and message.body_html is None
        message.next_attempt_at = clock.now() - timedelta(seconds=1)
        db.session.commit()
        assert deliver_pending() == (0, 0)  # given up: never tried again
    assert len(smtp.messages) == 2

    error_class = "BadHeaderError" if failure == "encabezado-roto" else "RuntimeError"
    lines = [record.getMessage() for record in caplog.records if record.name == "portal.outbox"]
    assert lines == [f"Correo {failing_id} (cda) no entregado, intento {n} de 2: {message.last_error}" for n in (1, 2)]
    assert message.last_error.startswith(error_class + " en ")
    for kept in lines + [message.last_error]:
        assert SECRET_CDA not in kept and "luis@empresa.mx" not in kept and "Luis" not in kept
