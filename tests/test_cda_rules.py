"""Reenviar CDA rules, without HTTP: which system, who may receive it, how often, what is recorded."""

import pytest
from sqlalchemy import select

from portal import clock
from portal.cda.resend import (EmailNotVerified, NoCdaOnFile, PhysicalCopy, TooManyResends, find_system,
                               recent_sends, resend_cda)
from portal.extensions import db
from portal.models import AuditEvent, OutboxMessage
from tests import factories

IP = "203.0.113.7"


def _queued():
    return db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def test_find_system_sees_only_the_desks_systems(world):
    mine = factories.service(world.a.desk, "licenciamiento")
    theirs = factories.service(world.b.desk)
    space = factories.service(world.a.desk, "espacio", serial="ESP000000001", cda=None, acquisition=None)
    assert find_system(world.a.desk, mine.serial) == mine
    assert find_system(world.a.desk, theirs.serial) is None
    assert find_system(world.a.desk, space.serial) is None  # not a system: no CDA to send
    assert find_system(world.a.desk, "NO-EXISTE") is None


def test_resend_queues_the_cda_to_the_users_address_and_audits_it_without_the_cda(world):
    system = factories.service(world.a.desk, product_code="COI", version="10.0")
    message = resend_cda(system, world.a.user, world.a.desk, IP)
    db.session.commit()

    assert _queued() == [message]
    assert message.kind == "cda" and message.status == "pendiente"
    assert message.recipient == world.a.user.email
    assert (message.service_id, message.desk_id, message.user_id) == (system.id, world.a.desk.id, world.a.user.id)
    assert message.subject == f"Código de Activación (CDA) de Aspel COI — No. Serie {system.serial}"
    assert system.cda not in message.subject
    for body in (message.body_text, message.body_html):
        for fact in ("Aspel COI", "10.0", system.serial, system.cda):
            assert fact in body

    event = db.session.scalar(select(AuditEvent).where(AuditEvent.event == "cda_resent"))
    assert (event.user_id, event.desk_id, event.ip) == (world.a.user.id, world.a.desk.id, IP)
    assert event.detail["serial"] == system.serial
    assert event.detail["recipient"] == "u•••@" + world.a.user.email.split("@")[1]
    assert system.cda not in repr(event.detail)


def test_the_mail_reads_as_the_customer_expects(world):
    system = factories.service(world.a.desk, product_code="PROD", version="4.0", serial="PROD00000042",
                               cda="CDA-7F3A-99B1-0C2D")
    message = resend_cda(system, world.a.user, world.a.desk, IP)
    text = message.body_text
    assert text.startswith("Hola Usuaria de Prueba:\n\nSolicitaste desde el Escritorio de Servicios el Código de Activación (CDA) de tu sistema:")
    assert "  Sistema:                     Aspel PROD\n" in text
    assert "  Versión:                     4.0\n" in text
    assert "  Número de serie:             PROD00000042\n" in text
    assert "  Código de Activación (CDA):  CDA-7F3A-99B1-0C2D\n" in text
    assert "Mi perfil > Datos generales" in text
    assert text.rstrip().endswith("Aspel · Escritorio de Servicios")
    assert "<strong style=\"font-family:monospace;font-size:1.1em\">CDA-7F3A-99B1-0C2D</strong>" in message.body_html


def test_a_physically_bought_system_is_refused(world):
    system = factories.service(world.a.desk, acquisition="fisica")
    with pytest.raises(PhysicalCopy):
        resend_cda(system, world.a.user, world.a.desk, IP)
    assert _queued() == []


def test_a_system_without_a_cda_on_file_is_refused(world):
    system = factories.service(world.a.desk, cda=None)
    with pytest.raises(NoCdaOnFile):
        resend_cda(system, world.a.user, world.a.desk, IP)
    assert _queued() == []


def test_an_unverified_address_receives_nothing_and_refusals_are_not_counted(world):
    user = factories.user(world.a.desk, verified=False)
    system = factories.service(world.a.desk)
    for _ in range(5):
        with pytest.raises(EmailNotVerified):
            resend_cda(system, user, world.a.desk, IP)
    assert _queued() == []
    user.email_verified_at = clock.now()
    for _ in range(3):  # the refused attempts did not use up the hour's three sends
        resend_cda(system, user, world.a.desk, IP)
    db.session.commit()
    assert len(_queued()) == 3


def test_three_sends_per_system_per_hour(world):
    first, second = factories.service(world.a.desk), factories.service(world.a.desk)
    for _ in range(3):
        resend_cda(first, world.a.user, world.a.desk, IP)
    with pytest.raises(TooManyResends) as refused:
        resend_cda(first, world.a.user, world.a.desk, IP)
    assert refused.value.scope == "system"
    assert 55 <= refused.value.minutes <= 60
    resend_cda(second, world.a.user, world.a.desk, IP)  # another system has its own three
    db.session.commit()
    assert len(_queued()) == 4


def test_twenty_sends_per_desk_per_day(world):
    systems = [factories.service(world.a.desk) for _ in range(7)]
    for n in range(20):
        resend_cda(systems[n // 3], world.a.user, world.a.desk, IP)
    with pytest.raises(TooManyResends) as refused:
        resend_cda(systems[6], world.a.user, world.a.desk, IP)
    assert refused.value.scope == "desk"
    assert 1430 <= refused.value.minutes <= 1440
    other = factories.service(world.b.desk)
    resend_cda(other, world.b.user, world.b.desk, IP)  # another desk is not affected
    db.session.commit()
    assert len(_queued()) == 21


def test_recent_sends_are_this_desks_cda_mails_newest_first_and_bounded(world):
    system = factories.service(world.a.desk)
    from portal.mail.outbox import enqueue
    for n in range(25):
        enqueue(f"persona{n}@empresa.mx", "CDA", "cda", kind="cda", desk=world.a.desk, service=system,
                name="", product="Aspel SAE", version="9.0", serial=system.serial, cda=system.cda)
    enqueue("otra@empresa.mx", "Otra cosa", "cda", kind="otro", desk=world.a.desk, service=system,
            name="", product="", version="", serial="", cda="")
    db.session.commit()
    sends = recent_sends(world.a.desk, system)
    assert [s.recipient for s in sends] == [f"persona{n}@empresa.mx" for n in range(24, 4, -1)]
    assert recent_sends(world.b.desk, system) == []
