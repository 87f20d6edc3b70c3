"""The alert rules with a frozen "today": each threshold once, repeated runs, desks apart, forecast."""
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.alerts import unsubscribe
from portal.services.due import due_label
from portal.alerts.forecast import forecast
from portal.alerts.preferences import low_balance, save_preferences
from portal.extensions import db
from portal.models import Alert, OutboxMessage
from tests import factories
from tests.alerts_helpers import alert_mails, run, stamps
from tests.conftest import body_of
from tests.clock_helpers import TEST_TODAY

TODAY = TEST_TODAY  # the portal's clock in every test (tests/clock_helpers.py)
ROOT = Path(__file__).resolve().parent.parent


def _threshold(user, desk, threshold, **wanted):
    values = dict(payments=True, validity=True, expiring_keys=True, low_stamps=True)
    values.update(wanted)
    save_preferences(user.id, desk.id, threshold=threshold, **values)
    db.session.commit()


def test_a_payment_alerts_seven_days_and_one_day_before_each_once(app, world):
    due = TODAY + timedelta(days=10)
    factories.service(world.a.desk, next_payment_on=due, serial="SAE000000777")
    kinds = []
    for day in range(10, -1, -1):
        run(due - timedelta(days=day))
        run(due - timedelta(days=day))  # the same day again: nothing new
        kinds.append([m.kind for m in alert_mails()])
    assert kinds[2] == []  # 8 days before: not yet
    assert kinds[3] == ["alert_payment_7"]  # 7 days before
    assert kinds[-2] == kinds[-1] == ["alert_payment_7", "alert_payment_1"]  # 1 day before, and the day itself
    mail = alert_mails()[0]
    assert mail.recipient == world.a.user.email
    assert mail.subject == f"Próximo pago de Aspel SAE (No. Serie SAE000000777): {due:%d/%m/%Y}"
    assert "vence en 7 días" in mail.body_text and "https://tienda.example/aspel" in mail.body_text


def test_a_late_first_run_still_alerts_once_and_never_both_of_a_pair(app, world):
    factories.service(world.a.desk, next_payment_on=TODAY + timedelta(days=5))
    factories.service(world.a.desk, category="polizas", name="Póliza SAE", valid_until=TODAY + timedelta(days=20),
                      serial=None, next_payment_on=None)
    assert run(TODAY).mails == 2
    assert sorted(m.kind for m in alert_mails()) == ["alert_payment_7", "alert_validity_30"]
    assert run(TODAY + timedelta(days=1)).mails == 0


@pytest.mark.parametrize("category,item", [("polizas", "póliza"), ("servidor-virtual", "servidor virtual"),
                                           ("espacio", "espacio"), ("cursos", "curso")])
def test_a_validity_alerts_thirty_and_seven_days_before(app, world, category, item):
    end = TODAY + timedelta(days=30)
    factories.service(world.a.desk, category=category, name="Plan Plus", valid_until=end, serial=None,
                      next_payment_on=None, acquisition=None)
    assert run(TODAY - timedelta(days=1)).mails == 0
    assert run(TODAY).mails == 1
    assert run(TODAY + timedelta(days=1)).mails == 0
    assert run(end - timedelta(days=7)).mails == 1
    assert run(end - timedelta(days=7)).mails == 0
    first, second = alert_mails()
    assert (first.kind, second.kind) == ("alert_validity_30", "alert_validity_7")
    assert first.subject == f"Tu {item} «Plan Plus» vence el {end:%d/%m/%Y}"
    assert "termina en 30 días" in first.body_text and "termina en 7 días" in second.body_text


def test_services_not_active_or_far_away_raise_nothing(app, world):
    factories.service(world.a.desk, next_payment_on=TODAY + timedelta(days=3), status="cancelado")
    factories.service(world.a.desk, next_payment_on=TODAY + timedelta(days=9))
    factories.service(world.a.desk, next_payment_on=TODAY - timedelta(days=1))
    assert run(TODAY).alerts == 0 and alert_mails() == []


def test_expiring_disponible_keys_make_one_digest_per_desk(app, world):
    desk = world.a.desk
    soon = [factories.prepaid_key(desk, expires_on=TODAY + timedelta(days=d)) for d in (3, 30, 12)]
    factories.prepaid_key(desk, expires_on=TODAY + timedelta(days=31))  # not yet
    factories.prepaid_key(desk, status="utilizada", expires_on=TODAY + timedelta(days=5))  # used
    factories.prepaid_key(world.b.desk, expires_on=TODAY + timedelta(days=5))  # the other desk's
    report = run(TODAY)
    assert report.raised["keys_expiring"] == 4
    mails = alert_mails()
    assert [(m.recipient, m.desk_id) for m in mails] == [(world.a.user.email, desk.id), (world.b.user.email, world.b.desk.id)]
    digest = mails[0]
    assert digest.subject == "3 claves de prepago vencen sin usarse en los próximos 30 días"
    for key in soon:
        assert key.code not in digest.body_text  # masked: only the last 4 show
        assert key.code[-4:] in digest.body_text
    lines = [line for line in digest.body_text.splitlines() if "vence el" in line]
    assert [line.split()[-1] for line in lines] == [f"{TODAY + timedelta(days=d):%d/%m/%Y}" for d in (3, 12, 30)]
    assert run(TODAY).mails == 0
    assert run(TODAY + timedelta(days=1)).mails == 1  # the 31-day key enters the window: a digest of it alone
    assert alert_mails()[-1].subject == "1 clave de prepago vence sin usarse en los próximos 30 días"


def test_a_low_balance_alerts_once_per_fall_under_the_threshold(app, world):
    desk, user = world.a.desk, world.a.user
    stamps(desk, "credito", 100, TODAY - timedelta(days=40))
    _threshold(user, desk, 50)
    assert run(TODAY).mails == 0
    stamps(desk, "consumo", 60, TODAY)  # 40 left
    assert run(TODAY).mails == 1
    assert run(TODAY).mails == 0 and run(TODAY + timedelta(days=1)).mails == 0  # still low: no second mail
    stamps(desk, "credito", 100, TODAY)  # 140: above again
    assert run(TODAY).mails == 0
    stamps(desk, "consumo", 95, TODAY)  # 45: a second fall
    assert run(TODAY).mails == 1
    first, second = alert_mails()
    assert first.subject == "Tu saldo de timbres está por debajo de 50"
    assert "Timbres disponibles: 40" in first.body_text and "Timbres disponibles: 45" in second.body_text
    assert "Comprar ahora: https://tienda.example/aspel" in second.body_text


def test_the_forecast_is_the_balance_at_the_last_thirty_days_pace(app, world):
    desk = world.a.desk
    stamps(desk, "credito", 1000, TODAY - timedelta(days=60))
    stamps(desk, "consumo", 150, TODAY - timedelta(days=30))  # 31 days ago counting today: outside
    stamps(desk, "consumo", 300, TODAY - timedelta(days=29), hour=0)  # first day of the window
    stamps(desk, "consumo", 150, TODAY, hour=23)
    pace = forecast(desk.id, TODAY, app.config["TIMEZONE"])
    # 1000 - 600 = 400 left; 450 used in 30 days = 15 a day; 400 / 15 = 26.7 days.
    assert (pace.available, pace.used_recently, pace.days) == (400, 450, 26)
    assert forecast(world.b.desk.id, TODAY, app.config["TIMEZONE"]).days is None  # no use, no pace

    _threshold(world.a.user, desk, 500)
    run(TODAY)
    assert "A tu ritmo actual tus timbres alcanzan para unos 26 días." in alert_mails()[0].body_text


def test_a_second_desks_users_are_never_alerted_for_the_first(app, world):
    a, b = world.a, world.b
    member = factories.user(a.desk, role="member")
    factories.service(a.desk, next_payment_on=TODAY + timedelta(days=1))
    factories.prepaid_key(a.desk, expires_on=TODAY + timedelta(days=4))
    stamps(a.desk, "credito", 10, TODAY)
    _threshold(b.user, b.desk, 100)  # b's threshold is for b's desk only
    _threshold(a.user, a.desk, 100)
    run(TODAY)
    mails = alert_mails()
    assert {m.recipient for m in mails if m.desk_id == a.desk.id} == {a.user.email, member.email}
    # b is alerted only for b's own empty desk, and a's members never for it.
    assert [(m.recipient, m.kind) for m in mails if m.desk_id == b.desk.id] == [(b.user.email, "alert_stamps_low")]
    assert all(a.desk.razon_social not in m.body_text for m in mails if m.recipient == b.user.email)
    # The stamp alert goes to the user who set the threshold, not to every member.
    assert [m.recipient for m in mails if m.kind == "alert_stamps_low" and m.desk_id == a.desk.id] == [a.user.email]


def test_turned_off_alerts_and_unverified_addresses_get_no_mail(app, world):
    a = world.a
    factories.user(a.desk, role="member", verified=False)
    factories.service(a.desk, next_payment_on=TODAY + timedelta(days=1))
    factories.service(a.desk, category="cursos", name="Curso NOI", valid_until=TODAY + timedelta(days=2), serial=None,
                      next_payment_on=None)
    _threshold(a.user, a.desk, None, payments=False)
    run(TODAY)
    assert [(m.recipient, m.kind) for m in alert_mails()] == [(a.user.email, "alert_validity_7")]


def test_every_alert_mail_has_a_working_unsubscribe_link(app, world):
    factories.service(world.a.desk, next_payment_on=TODAY + timedelta(days=1))
    run(TODAY)
    body = alert_mails()[0].body_text
    link = next(line.split(": ", 1)[1] for line in body.splitlines() if line.startswith("Para dejar de recibir"))
    assert link.startswith(app.config["PORTAL_URL"] + "/perfil/notificaciones/baja/")
    assert unsubscribe.read(link.rsplit("/", 1)[1]) == (world.a.user.id, world.a.desk.id, "payments")
    with pytest.raises(unsubscribe.LinkInvalid):
        unsubscribe.read(link.rsplit("/", 1)[1][:-2] + "xx")


def test_the_badge_counts_days_to_the_due_date():
    assert [due_label(TODAY + timedelta(days=d), TODAY) for d in (-1, 0, 1, 3, 7, 8)] == [
        None, "Vence hoy", "Vence mañana", "Vence en 3 días", "Vence en 7 días", None]


def test_the_banner_knows_when_the_balance_is_under_the_threshold(app, world):
    desk, user = world.a.desk, world.a.user
    assert low_balance(user.id, desk.id) is None
    stamps(desk, "credito", 30, TODAY)
    _threshold(user, desk, 30)
    assert low_balance(user.id, desk.id) is None  # at the threshold is not under it
    stamps(desk, "consumo", 1, TODAY)
    assert low_balance(user.id, desk.id) == (29, 30)
    assert low_balance(world.b.user.id, desk.id) is None


def test_an_alert_mail_survives_smtp_down_and_is_delivered_later(app, world, smtp):
    from portal.mail.outbox import deliver_pending
    from portal import clock

    factories.service(world.a.desk, next_payment_on=TODAY + timedelta(days=1))
    run(TODAY)
    app.extensions["mail"].port = 1  # nothing listens there
    assert deliver_pending() == (0, 1)
    mail = alert_mails()[0]
    assert mail.status == "pendiente" and mail.attempts == 1
    assert run(TODAY).mails == 0  # the run does not queue it again while it waits
    app.extensions["mail"].port = smtp.port
    mail.next_attempt_at = clock.now() - timedelta(seconds=1)  # its backoff is over
    db.session.commit()
    assert deliver_pending() == (1, 0)
    received = [m for m in smtp.messages if m["to"] == [world.a.user.email]]
    assert len(received) == 1
    assert "El próximo pago de tu suscripción vence mañana" in body_of(received[0]["message"])


@pytest.mark.multiprocess
def test_two_runs_at_once_in_separate_processes_mail_each_alert_once(app, world, database_url, backend):
    """Two `flask portal alerts` processes against the same database at the same moment."""
    for n in range(150):
        factories.service(world.a.desk, next_payment_on=TODAY + timedelta(days=1 + n % 7))
    factories.prepaid_key(world.a.desk, expires_on=TODAY + timedelta(days=9))
    env = dict(os.environ, DATABASE_URL=database_url, SECRET_KEY=app.config["SECRET_KEY"],
               MAIL_DIR=app.config["MAIL_DIR"], FLASK_APP="app", PORTAL_URL="http://portal.example")
    command = [sys.executable, "-m", "flask", "portal", "alerts", "--today", TODAY.isoformat()]
    runs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [process.communicate(timeout=120) for process in runs]
    assert [process.returncode for process in runs] == [0, 0], outputs
    mails = alert_mails()
    assert len(mails) == 151  # 150 subscriptions and one digest
    assert len({(m.kind, m.service_id) for m in mails if m.service_id}) == 150
    assert db.session.scalar(select(db.func.count()).select_from(Alert)) == 151
    assert sorted(out for out, _err in outputs) == ["Avisos nuevos: 0; correos en cola: 0.\n",
                                                     "Avisos nuevos: 151; correos en cola: 151.\n"]
    assert "http://portal.example/perfil/notificaciones/baja/" in mails[0].body_text


def test_the_cli_takes_its_day_from_timezone_or_today(app, world):
    factories.service(world.a.desk, next_payment_on=TODAY + timedelta(days=1))
    result = app.test_cli_runner().invoke(args=["portal", "alerts", "--today", TODAY.isoformat()])
    assert result.exit_code == 0 and result.output == "Avisos nuevos: 1; correos en cola: 1.\n"
    bad = app.test_cli_runner().invoke(args=["portal", "alerts", "--today", "01/12/2026"])
    assert bad.exit_code == 2 and db.session.scalar(select(db.func.count()).select_from(OutboxMessage)) == 1


def test_the_outbox_worker_runs_the_alerts_and_delivers_them(app, world, smtp):
    from portal.clock import today as local_today
    from portal.cli import run_alerts_now
    from portal.mail.outbox import run_worker

    today = local_today(app.config["TIMEZONE"])  # the worker's run counts days in TIMEZONE
    factories.service(world.a.desk, next_payment_on=today + timedelta(days=1))
    rounds = iter(range(3))
    runs = []

    def alerts():
        runs.append(run_alerts_now())

    run_worker(interval=0.01, stop=lambda: next(rounds, None) is None, every=(3600, alerts))
    assert len(runs) == 1 and runs[0].mails == 1  # at start, then not again within ALERTS_INTERVAL
    assert [m["to"] for m in smtp.messages] == [[world.a.user.email]]
    assert alert_mails()[0].status == "enviado"
