"""The outbox: e-mail is written with the change that causes it, and delivered later.

enqueue() adds a row to the caller's transaction, so a rolled-back change sends nothing and a
committed one cannot lose its mail. deliver_pending() claims due rows (FOR UPDATE SKIP LOCKED on
PostgreSQL, so workers on several hosts never take the same row), sends them with Flask-Mail over
SMTP — or writes .eml files when no SMTP server is configured — and retries failures with backoff.
"""
import base64
import logging
import smtplib
import traceback
from datetime import timedelta
from email.utils import make_msgid
from pathlib import Path

import flask_mail
from flask import current_app
from sqlalchemy import delete, insert, literal, select, update

from portal.extensions import db
from portal.models import OutboxMessage, User
from portal import clock, metrics
from portal.units import Work, unit_of_work

log = logging.getLogger("portal.outbox")

# A claimed message is left alone by other workers this long, even if its worker dies.
LEASE = timedelta(minutes=5)
BACKOFF_BASE_SECONDS = 30
# 36 bytes of UTF-8 make a 60-character encoded-word: with "Subject: " a line of 69.
SUBJECT_WORD_BYTES = 36


def enqueue(recipient, subject, template, *, kind=None, desk=None, user=None, service=None, **context):
    """Render mail/<template>.txt (and .html) and add the message to the current transaction."""
    message = OutboxMessage(**_values(recipient, subject, template, _has_html(template), kind=kind, desk=desk,
                                      user=user, service=service, context=context))
    db.session.add(message)
    return message


def enqueue_for(user_id, recipient, subject, template, **context):
    """Render the message and add it in one INSERT … SELECT that writes it only if the user
    `user_id` exists: the same rendering and the same statement whether or not it does, so the
    answer's cost tells nothing (e.g. a reset asked for an unknown address, user_id 0)."""
    values = _values(recipient, subject, template, _has_html(template), kind=None, desk=None, user=user_id,
                     service=None, context=context)
    table = OutboxMessage.__table__
    row = select(*[literal(value, type_=table.c[name].type) for name, value in values.items()])
    db.session.execute(insert(table).from_select(list(values), row.where(
        select(User.id).where(User.id == user_id).exists())))


def enqueue_many(messages):
    """Add many messages to the current transaction in one INSERT, with no ORM object per message
    (a run of the alerts queues thousands): `messages` are (recipient, subject, template, kwargs)
    with enqueue()'s keyword arguments. Returns how many."""
    html = {}
    rows = []
    for recipient, subject, template, kwargs in messages:
        if template not in html:
            html[template] = _has_html(template)
        kwargs = dict(kwargs)
        keys = {name: kwargs.pop(name, None) for name in ("kind", "desk", "user", "service")}
        rows.append(_values(recipient, subject, template, html[template], context=kwargs, **keys))
    if rows:
        db.session.execute(insert(OutboxMessage.__table__), rows)
    return len(rows)


def _values(recipient, subject, template, html, *, kind, desk, user, service, context):
    context.setdefault("brand", current_app.config["BRAND_NAME"])
    return {
        "message_id": make_msgid(domain="escritorio.local"),
        "kind": kind or template,
        "recipient": recipient,
        "subject": subject,
        "body_text": _render(f"mail/{template}.txt", context),
        "body_html": _render(f"mail/{template}.html", context) if html else None,
        "desk_id": getattr(desk, "id", desk),
        "user_id": getattr(user, "id", user),
        "service_id": getattr(service, "id", service),
        "next_attempt_at": clock.now(),
    }


def _render(name, context):
    # A mail reads only what it is given: no page context processors (the desk, the menu, the
    # signed-in user), which cost more than the template itself when a run queues thousands.
    return current_app.jinja_env.get_template(name).render(context)


def _has_html(template):
    """Whether mail/<template>.html exists: a text-only message is fine."""
    env = current_app.jinja_env
    try:
        env.loader.get_source(env, f"mail/{template}.html")
    except Exception:  # noqa: BLE001 - TemplateNotFound, whatever the loader
        return False
    return True


def claim_due(limit=50):
    """Lease up to `limit` due messages to this worker and return their ids (committed)."""
    now = clock.now()
    ids = db.session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pendiente", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if ids:
        db.session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(next_attempt_at=now + LEASE)
        )
    db.session.commit()
    return ids


def deliver_pending(limit=50):
    """Deliver what is due; returns (sent, failed). Safe to run in several processes at once."""
    ids = claim_due(limit)
    sent = failed = 0
    for message_id in ids:
        message = db.session.get(OutboxMessage, message_id)
        try:
            _send(message)
        except Exception as error:  # noqa: BLE001 - any failure is an attempt; the rest of the batch still goes
            failed += 1
            metrics.OUTBOX_FAILURES.inc()
            _schedule_retry(message, error)
        else:
            sent += 1
            metrics.OUTBOX_DELIVERIES.inc()
            message.status = "enviado"
            message.sent_at = clock.now()
            message.attempts += 1
            message.last_error = None
            # The body may carry a CDA or a link: once delivered the portal no longer keeps it.
            message.body_text = ""
            message.body_html = None
        db.session.commit()
    return sent, failed


def _schedule_retry(message, error):
    """Count a failed attempt: retry after a backoff, or give up (`error`) after the last one."""
    message.attempts += 1
    message.last_error = _failure_reason(error)
    max_attempts = current_app.config["OUTBOX_MAX_ATTEMPTS"]
    if message.attempts >= max_attempts:
        message.status = "error"
        # Never to be sent: the CDA or the link it carries is not kept either (the row stays as a record).
        message.body_text = ""
        message.body_html = None
    else:
        delay = BACKOFF_BASE_SECONDS * 2 ** (message.attempts - 1)
        message.next_attempt_at = clock.now() + timedelta(seconds=delay)
    # The id and kind name it; never the body, which may hold a CDA or a link's token.
    log.log(logging.ERROR if message.status == "error" else logging.WARNING,
            "Correo %s (%s) no entregado, intento %s de %s: %s",
            message.id, message.kind, message.attempts, max_attempts, message.last_error)


def _failure_reason(error):
    """What went wrong, short and without the message's secrets.

    A transport error's text is the server's reply or the network's; any other exception's text may
    quote what it was handed (the body with a CDA, a link with its token), so only its class and
    the line that raised it are kept."""
    if isinstance(error, (OSError, smtplib.SMTPException)):
        return f"{type(error).__name__}: {str(error)[:200]}"
    frames = traceback.extract_tb(error.__traceback__)
    where = f" en {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(error).__name__}{where}"


def purge(older_than):
    """Delete the sent and failed messages created before `older_than` (a timedelta); returns how many.

    Pending ones stay whatever their age: they are still to be delivered."""
    result = db.session.execute(delete(OutboxMessage).where(OutboxMessage.status.in_(("enviado", "error")),
                                                            OutboxMessage.created_at < clock.now() - older_than))
    db.session.commit()
    return result.rowcount


def encode_subject(subject):
    """The subject as RFC 2047 encoded-words that every line keeps under 78 characters.

    Flask-Mail (and Python's SMTP policy) fold a long non-ASCII subject between encoded-words at a
    space, and a space between encoded-words is dropped when read: "contraseña más" came out as
    "contraseñamás". Here every space travels inside a word, and the lines are short enough that
    the policy leaves them as they are.
    """
    if subject.isascii():
        return subject
    words, chunk = [], ""
    for char in subject:
        if len((chunk + char).encode()) > SUBJECT_WORD_BYTES:
            words.append(chunk)
            chunk = char
        else:
            chunk += char
    words.append(chunk)
    return "\r\n ".join("=?utf-8?b?" + base64.b64encode(word.encode()).decode() + "?=" for word in words)


def _build(message):
    mail = flask_mail.Message(
        subject=encode_subject(message.subject),
        recipients=[message.recipient],
        body=message.body_text,
        html=message.body_html,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
    )
    mail.msgId = message.message_id
    return mail


def _send(message):
    mail = _build(message)
    if current_app.config["MAIL_SERVER"]:
        with TimedConnection(current_app.extensions["mail"], current_app.config["MAIL_TIMEOUT"]) as connection:
            connection.send(mail)
    else:
        _write_eml(message, mail)


def _write_eml(message, mail):
    """Embedded default: the message as an .eml file under instance/mail/."""
    directory = Path(current_app.config["MAIL_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{message.id:08d}-{message.kind}.eml"
    path.write_bytes(mail.as_bytes())


class TimedConnection(flask_mail.Connection):
    """Flask-Mail's connection with a socket timeout: a silent server cannot hang a worker."""

    def __init__(self, state, timeout):
        super().__init__(state)
        self.timeout = timeout

    def configure_host(self):
        state = self.mail
        if state.use_ssl:
            host = smtplib.SMTP_SSL(state.server, state.port, timeout=self.timeout)
        else:
            host = smtplib.SMTP(state.server, state.port, timeout=self.timeout)
        if state.use_tls:
            host.starttls()
        if state.username and state.password:
            host.login(state.username, state.password)
        return host


def deliver_round(limit=50):
    """One round of the worker: deliver_pending() as a writing unit (it claims rows: SQLite takes
    its write lock at BEGIN, so workers running at once queue instead of being refused)."""
    with unit_of_work(db.session, Work.WRITES):
        return deliver_pending(limit)


def run_worker(interval=2.0, stop=None, every=None):
    """Deliver forever (the `--loop` worker); `stop()` ends it (tests). `every` = (seconds, task):
    the task also runs at start and then once that many seconds have passed (the alerts)."""
    import time

    from portal import request_ids

    last_task = None
    while not (stop and stop()):
        if every and every[0] > 0 and (last_task is None or time.monotonic() - last_task >= every[0]):
            last_task = time.monotonic()
            # Each run and each round logs under an ID of its own ("outbox-…"), as a request does.
            with request_ids.bound("outbox-" + request_ids.new_id()):
                try:
                    every[1]()
                except Exception:  # noqa: BLE001 - the mail keeps flowing; the task tries again next time
                    log.exception("Fallo en la tarea periódica del repartidor")
                    db.session.rollback()
        with request_ids.bound("outbox-" + request_ids.new_id()):
            try:
                sent, failed = deliver_round()
            except Exception:  # noqa: BLE001 - a worker survives a database hiccup and tries again
                log.exception("Fallo al repartir el buzón de salida")
                db.session.rollback()
                sent = failed = 0
        if not sent and not failed:
            time.sleep(interval)


__all__ = ["enqueue", "enqueue_many", "deliver_pending", "deliver_round", "claim_due", "run_worker", "purge"]
