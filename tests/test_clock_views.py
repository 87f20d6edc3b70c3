"""The date-sensitive pages on several days of the year, and in the evening in Mexico City."""
import re
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.extensions import db
from portal.models import PrepaidKey
from portal.prepaid.grids import months_before
from tests import factories
from tests.clock_helpers import TEST_TODAY, TIMEZONE
from tests.prepaid_helpers import confirm, step_token, validate

DAYS = {
    "hoy": TEST_TODAY,
    "fin-de-mes": date(2027, 4, 30),
    "bisiesto": date(2028, 2, 29),
    "fin-de-anio": date(2027, 12, 31),
    "primero-de-marzo": date(2027, 3, 1),
}


def _row_of(html, text):
    """The table row (or card) that holds `text`."""
    rows = [row for row in re.findall(r"<tr\b.*?</tr>", html, re.S) if text in row]
    assert len(rows) == 1, text
    return rows[0]


@pytest.fixture(params=list(DAYS), ids=list(DAYS))
def day(request, portal_clock):
    """The portal's clock on one day of the year; the test's data counts from it."""
    portal_clock.set_today(DAYS[request.param], TIMEZONE)
    return DAYS[request.param]


def test_the_due_badges_count_days_from_the_portals_today(client, world, login, day):
    dues = {"VENCE-AYER": -1, "VENCE-HOY": 0, "VENCE-MANANA": 1, "VENCE-EN-7": 7, "VENCE-EN-8": 8}
    for serial, days in dues.items():
        factories.service(world.a.desk, serial=serial, next_payment_on=day + timedelta(days=days))
    login(world.a.user)
    html = client.get("/servicios/suscripciones?per_page=50").get_data(as_text=True)
    assert "Vence hoy" in _row_of(html, "VENCE-HOY")
    assert "Vence mañana" in _row_of(html, "VENCE-MANANA")  # the day before its due date
    assert "Vence en 7 días" in _row_of(html, "VENCE-EN-7")
    for serial in ("VENCE-AYER", "VENCE-EN-8"):
        assert "Vence" not in _row_of(html, serial)
    assert f"{day + timedelta(days=1):%d/%m/%Y}" in _row_of(html, "VENCE-MANANA")


def test_the_keys_default_period_is_the_last_two_months_to_the_portals_today(client, world, login, day):
    first = months_before(day, 2)
    for confirmed_on, quantity in ((day, 11), (first, 22), (first - timedelta(days=1), 33)):
        factories.prepaid_key(world.a.desk, confirmed_on=confirmed_on, quantity=quantity)
    login(world.a.user)
    html = client.get("/claves-prepago").get_data(as_text=True)
    assert f"Fecha de contratación desde {first:%d/%m/%Y} al {day:%d/%m/%Y}" in html
    assert "11 Timbres" in html and "22 Timbres" in html
    assert "33 Timbres" not in html


def test_a_key_expiring_today_is_taken_and_yesterdays_refused(client, world, login, day, hx):
    today_key = factories.prepaid_key(expires_on=day)
    old_key = factories.prepaid_key(expires_on=day - timedelta(days=1))
    login(world.a.user)
    refused = validate(client, old_key.code, headers=hx)
    assert f"La clave venció el {day - timedelta(days=1):%d/%m/%Y}" in refused.get_data(as_text=True)
    taken = validate(client, today_key.code, headers=hx)
    assert taken.status_code == 200 and "venció" not in taken.get_data(as_text=True)
    confirm(client, step_token(taken.get_data(as_text=True)), destination="distribuidor", headers=hx)
    db.session.expire_all()
    assert db.session.get(PrepaidKey, today_key.id).confirmed_on == day


def test_in_the_evening_in_mexico_city_a_key_on_its_last_day_is_still_taken(
        client, world, login, hx, portal_clock, monkeypatch):
    """23:30 in Mexico City is already tomorrow in UTC (and later still in Tokyo, the process's zone here)."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        evening = datetime(2027, 6, 15, 23, 30, tzinfo=ZoneInfo(TIMEZONE))
        portal_clock.set_now(evening)
        key = factories.prepaid_key(expires_on=evening.date())
        login(world.a.user)
        taken = validate(client, key.code, headers=hx)
        assert taken.status_code == 200, taken.get_data(as_text=True)
        assert "La clave venció" not in taken.get_data(as_text=True)
        done = confirm(client, step_token(taken.get_data(as_text=True)), destination="distribuidor", headers=hx)
        assert done.status_code == 200
        db.session.expire_all()
        assert db.session.get(PrepaidKey, key.id).confirmed_on == date(2027, 6, 15)  # not the 16th
        html = client.get("/claves-prepago").get_data(as_text=True)
        assert "al 15/06/2027" in html  # the default period ends on the customer's today
    finally:
        monkeypatch.undo()
        time.tzset()
