"""The demo data is data the product could have made: every row passes the rules, every list shows
only states a user can reach (no Utilizada key "Sin asignar", no finished course "Activo")."""
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal.demo import CUSTOMER, DEMO_PASSWORD, DISTRIBUTOR, load_demo
from portal.extensions import db
from portal.models import Client, Desk, PrepaidKey, Service, StampMovement
from portal.models.prepaid import DESTINATIONS, KEY_STATUSES
from portal.models.services import ACQUISITIONS, CATEGORIES, SERVICE_STATUSES, SYSTEM_CATEGORIES, dated_status
from portal.prepaid.redemption import KeyAlreadyInThisDesk, assign_key, validate_key
from portal.services.stamps import stamp_balance
from tests.clock_helpers import TEST_TODAY

TODAY = TEST_TODAY  # the portal's clock in every test (tests/clock_helpers.py)
# What each destination can lead to: confirm_key makes a Mi Negocio key Utilizada at once and a
# Distribuidor key Disponible; only assign_key makes a Disponible key Utilizada.
REACHABLE = {None: {"nueva"}, "mi_negocio": {"utilizada"}, "distribuidor": {"disponible", "utilizada"}}


@pytest.fixture
def demo(app):
    with app.app_context():
        result = load_demo(today=TODAY)
        desks = {desk.rfc: desk for desk in db.session.scalars(select(Desk))}
        yield result, desks


def _check_constraints_of_key(key):
    # The CHECK constraints of prepaid_keys, as Python (the database enforced them at insert too).
    assert key.status in KEY_STATUSES and key.quantity > 0
    assert key.destination is None or key.destination in DESTINATIONS
    assert key.status in ("nueva", "revocada") or (key.desk_id is not None and key.confirmed_on is not None)
    assert key.status != "utilizada" or key.activated_on is not None


def test_every_demo_key_is_one_the_rules_could_have_made(demo):
    _result, desks = demo
    keys = db.session.scalars(select(PrepaidKey).order_by(PrepaidKey.id)).all()
    clients = {client.id: client for client in db.session.scalars(select(Client))}
    credited = {m.external_id: m.quantity for m in db.session.scalars(select(StampMovement))}
    by_id = {desk.id: desk for desk in desks.values()}
    seen = set()
    for key in keys:
        _check_constraints_of_key(key)
        assert key.status in REACHABLE[key.destination], (key.code, key.destination, key.status)
        seen.add(key.status)
        if key.status == "nueva":
            assert key.desk_id is None and key.client_id is None and key.activated_on is None
            assert validate_key(desks[CUSTOMER[1]], key.code, today=TODAY).id == key.id
            continue
        desk = by_id[key.desk_id]
        with pytest.raises(KeyAlreadyInThisDesk):
            validate_key(desk, key.code, today=TODAY)
        assert key.confirmed_on <= TODAY and key.license_accepted_at is not None
        if key.destination == "distribuidor":
            assert desk.is_distributor
        if key.status == "disponible":
            assert key.client_id is None and key.activated_on is None
            continue
        # Utilizada: by a client of the key's own desk, on or after its confirmation, and the
        # rule that assigns keys sees nothing to change for that very client.
        client = clients[key.client_id]
        assert client.desk_id == key.desk_id
        assert key.confirmed_on <= key.activated_on <= TODAY
        assignment = assign_key(key, client.rfc, client.razon_social, key.activated_on)
        assert assignment.changed is False
        if key.destination == "mi_negocio":
            assert (client.rfc, client.razon_social) == (desk.rfc, desk.razon_social)
            assert key.activated_on == key.confirmed_on
            assert credited.get(f"key:{key.id}") == key.quantity
    assert seen == {"nueva", "disponible", "utilizada"}
    for desk in desks.values():
        assert stamp_balance(desk.id).available >= 0


def test_every_demo_service_shows_a_state_it_can_be_in(demo):
    services = db.session.scalars(select(Service)).all()
    serials = [s.serial for s in services if s.serial]
    assert len(serials) == len(set(serials))
    for service in services:
        assert service.category in CATEGORIES and service.status in SERVICE_STATUSES
        if service.category in SYSTEM_CATEGORIES:
            assert service.product is not None and service.serial and service.acquisition in ACQUISITIONS
            assert service.activated_on <= TODAY
            assert service.cda_by_email == (service.acquisition == "electronica")
        if service.category == "suscripciones":
            assert service.next_payment_on >= TODAY, service.serial
        if service.valid_until is not None:
            assert service.valid_from <= service.valid_until
            assert service.status == dated_status(service.valid_until, TODAY), (service.name, service.valid_until)


def test_a_demo_loaded_days_ago_is_brought_up_to_today(app):
    with app.app_context():
        load_demo(today=TODAY - timedelta(days=40))
        load_demo(today=TODAY)
        for service in db.session.scalars(select(Service)):
            if service.valid_until is not None:
                assert service.status == dated_status(service.valid_until, TODAY), service.name
            if service.next_payment_on is not None:
                assert service.next_payment_on >= TODAY


def _rows(html):
    """The grid's body rows as lists of cell texts."""
    if "<tbody" not in html:
        return []  # the grid's empty message instead of a table
    body = html.split("<tbody", 1)[1].split("</tbody>", 1)[0]
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = [re.sub(r"<[^>]+>", " ", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        if cells:
            rows.append([" ".join(cell.split()) for cell in cells])
    return rows


@pytest.mark.parametrize("email, rfc", [("cliente@demo.mx", CUSTOMER[1]), ("distribuidor@demo.mx", DISTRIBUTOR[1])])
def test_the_demo_lists_show_reachable_states(demo, client, email, rfc):
    _result, desks = demo
    response = client.post("/cuenta/ingresar", data={"email": email, "password": DEMO_PASSWORD})
    assert response.status_code == 303
    desk = desks[rfc]
    since = (TODAY - timedelta(days=730)).isoformat()
    keys = _rows(client.get(f"/claves-prepago?desde={since}&per_page=100&estatus=utilizada").get_data(as_text=True))
    assert keys, "the demo desk shows Utilizada keys"
    for _code, _amount, _date, activated, status, client_name in keys[:100]:
        assert status == "Utilizada"
        assert activated != "Inactiva" and client_name != "Sin asignar"
        if not desk.is_distributor:
            assert client_name == desk.razon_social  # Mi Negocio: used by the desk's own company
    available = _rows(client.get(f"/claves-prepago?desde={since}&per_page=100&estatus=disponible").get_data(as_text=True))
    for _code, _amount, _date, activated, status, client_name in available:
        assert (activated, status, client_name) == ("Inactiva", "Disponible", "Sin asignar")
    assert bool(available) == desk.is_distributor  # only a distributor keeps keys for its clients

    courses = _rows(client.get("/servicios/cursos").get_data(as_text=True))
    assert len(courses) == 3
    for _name, _mode, _start, end, status in courses:
        day, month, year = map(int, end.split()[0].split("/"))  # a due badge may follow ("Vence en 2 días")
        assert status == ("Vencido" if date(year, month, day) < TODAY else "Activo"), (end, status)
    assert "Vencido" in {row[-1] for row in courses}


def test_the_demo_customer_desk_has_a_colleague_of_each_role(demo, client):
    _result, desks = demo
    members = {m.user.email: m.role for m in desks[CUSTOMER[1]].memberships}
    assert members == {"cliente@demo.mx": "owner", "usuario@demo.mx": "member", "consulta@demo.mx": "viewer"}
    assert client.post("/cuenta/ingresar", data={"email": "consulta@demo.mx", "password": DEMO_PASSWORD}).status_code == 303
    page = client.get("/servicios/suscripciones").get_data(as_text=True)
    assert "Reenviar CDA" not in page  # Consulta sees the list, not the changes
    assert "Pedro Ruiz" in client.get("/escritorio/usuarios").get_data(as_text=True)
