"""The bench generator at a tiny scale: the rows it bulk-loads are rows the portal can use."""

import pytest
from sqlalchemy import func, select

from bench.common import PASSWORD, POOL_BATCH, USERS
from bench.generate import Column, GeneratorOutdated, RowPlan, Sizes, fold, populate
from portal import folding, key_codes
from portal.auth.passwords import hash_password
from portal.extensions import db
from portal.models import Client, Desk, Membership, PrepaidKey, Service, User
from portal.models.services import service_search_text
from portal.sealed import data_key
from tests.clock_helpers import TEST_TODAY

TINY = Sizes(desks=6, keys=1_000, clients=25, pool=30, second_keys=20, services=300, big_services=120)
TODAY = TEST_TODAY  # the portal's clock in every test (tests/clock_helpers.py)


@pytest.fixture
def loaded(app, database_url):
    with app.app_context():
        password_hash = hash_password(PASSWORD)
        db.session.remove()
    result = populate(database_url, TINY, password_hash, today=TODAY, quiet=True, data_key=data_key(app.config))
    with app.app_context():
        yield result


def test_the_big_desk_holds_its_keys_in_every_state_over_five_years(loaded):
    big = db.session.get(Desk, loaded.big_desk_id)
    assert big.kind == "distribuidor"
    in_desk = db.session.execute(
        select(PrepaidKey.status, func.count()).where(PrepaidKey.desk_id == big.id).group_by(PrepaidKey.status)
    ).all()
    statuses = dict(in_desk)
    assert sum(statuses.values()) == TINY.keys
    assert statuses["utilizada"] and statuses["disponible"]
    first, last = db.session.execute(
        select(func.min(PrepaidKey.confirmed_on), func.max(PrepaidKey.confirmed_on)).where(PrepaidKey.desk_id == big.id)
    ).one()
    assert (last - first).days > 365 * 4 and last <= TODAY
    pool = db.session.scalars(select(PrepaidKey).where(PrepaidKey.batch == POOL_BATCH)).all()
    assert len(pool) == TINY.pool and {k.status for k in pool} == {"nueva"} and all(k.desk_id is None for k in pool)


def test_every_code_is_valid_and_unique(loaded):
    all_codes = [key.code for key in db.session.scalars(select(PrepaidKey))]
    assert len(all_codes) == len(set(all_codes)) == TINY.keys + TINY.second_keys + TINY.pool
    assert all(key_codes.normalise(code) == code for code in all_codes)


def test_used_keys_name_a_client_of_the_desk_and_a_date(loaded):
    used = db.session.scalars(select(PrepaidKey).where(PrepaidKey.status == "utilizada",
                                                       PrepaidKey.desk_id == loaded.big_desk_id)).all()
    assert all(k.activated_on is not None and k.activated_on >= k.confirmed_on for k in used)
    with_client = [k for k in used if k.client_id is not None]
    assert with_client and all(k.client.desk_id == loaded.big_desk_id for k in with_client)
    assert db.session.scalar(select(func.count()).select_from(Client)) == TINY.clients


def test_services_are_spread_with_the_big_desk_holding_its_share(loaded):
    per_desk = dict(db.session.execute(select(Service.desk_id, func.count()).group_by(Service.desk_id)).all())
    assert sum(per_desk.values()) == TINY.services
    assert per_desk[loaded.big_desk_id] == TINY.big_services
    systems = db.session.scalars(select(Service).where(Service.category == "suscripciones")).all()
    assert systems and all(s.serial and s.cda and s.product_id for s in systems)


def test_both_bench_users_sign_in_with_the_known_password_and_own_their_desks(loaded, client):
    for who, desk_id in (("big", loaded.big_desk_id), ("second", loaded.second_desk_id)):
        user = db.session.scalar(select(User).where(User.email == USERS[who]))
        assert user.email_verified
        membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id))
        assert (membership.desk_id, membership.role) == (desk_id, "owner")
    response = client.post("/cuenta/ingresar", data={"email": USERS["big"], "password": PASSWORD})
    assert response.status_code == 303
    page = client.get("/servicios/suscripciones")
    assert "Distribuidora Bench del Norte" in page.get_data(as_text=True)


def test_new_rows_after_the_load_get_fresh_ids(loaded):
    key = PrepaidKey(code=key_codes.generate(), quantity=50, unit="Timbres")
    db.session.add(key)
    db.session.commit()
    assert key.id > TINY.keys + TINY.second_keys + TINY.pool


# --- how rows meet the live table, without a database ------------------------------------------------

class FakeWriter:
    def __init__(self, columns):
        self._columns = columns

    def columns(self, table):
        return self._columns

    def convert(self, kind):
        return None


def test_a_search_column_the_app_adds_is_filled_without_accents():
    writer = FakeWriter([Column("id", False, False, "other"), Column("razon_social", False, False, "other"),
                         Column("search_text", True, False, "other")])
    rows = [{"id": 1, "razon_social": "Ferretería Juárez", "_client": "Óptica León"}]
    plan = RowPlan(writer, "a_table_of_tomorrow", rows[0])
    assert plan.names == ["id", "razon_social", "search_text"]
    (row,) = plan.tuples(rows)
    assert row[:2] == (1, "Ferretería Juárez")
    assert "ferreteria juarez" in row[2] and "optica leon" in row[2]
    assert fold("ÁRBOL Ñandú") == "arbol nandu"


def test_search_columns_hold_what_the_models_would_store(loaded):
    for client in db.session.scalars(select(Client)).all():
        assert client.search_text == folding.fold(client.razon_social)
    for service in db.session.scalars(select(Service).limit(200)).all():
        product = service.product
        assert service.search_text == service_search_text(
            product and product.code, product and product.name, service.name, service.version, service.serial,
            service.plan, service.capacity, service.status)


def test_a_required_column_nobody_can_fill_stops_the_load_with_where_to_fix_it():
    writer = FakeWriter([Column("id", False, False, "other"), Column("something_new", False, False, "other")])
    with pytest.raises(GeneratorOutdated, match="DERIVED"):
        RowPlan(writer, "clients", {"id": 1})
