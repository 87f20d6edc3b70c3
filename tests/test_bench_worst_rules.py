"""bench/worst.py at a tiny scale: every combination of the keys grid answers, bounded, and the
slowest is named (the million-key run is `make bench`'s, never the suite's)."""
import pytest

from bench.common import PASSWORD, USERS
from bench.generate import Sizes, populate
from bench.worst import COMBINATIONS, measure, report
from portal.auth.passwords import hash_password
from portal.extensions import db
from portal.sealed import data_key
from tests.clock_helpers import TEST_TODAY

TINY = Sizes(desks=4, keys=600, clients=20, pool=10, second_keys=10, services=60, big_services=20)


@pytest.fixture
def loaded(app, database_url):
    with app.app_context():
        password_hash = hash_password(PASSWORD)
        db.session.remove()
    populate(database_url, TINY, password_hash, today=TEST_TODAY, quiet=True, data_key=data_key(app.config))


def test_every_combination_answers_and_the_slowest_is_reported(app, loaded):
    found = measure(app, USERS["big"], PASSWORD)
    assert len(found) == len(COMBINATIONS) == 36
    assert {status for _name, _query, status, _ms in found} <= {200, 503}
    assert [row[3] for row in found] == sorted((row[3] for row in found), reverse=True)
    text = report("sqlite", found, app.config["STATEMENT_TIMEOUT_SECONDS"])
    assert f"**Slowest:** {found[0][0]} → HTTP {found[0][2]}" in text and text.count("\n| ") == 37
