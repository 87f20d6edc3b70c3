"""Two-factor rules without a client: code windows, replays, the secret at rest, recovery codes."""
import pyotp
import pytest

from portal import create_app
from portal.auth import totp, two_factor
from portal.extensions import db
from tests import factories


def test_a_code_counts_one_step_either_side_and_never_twice():
    secret, now = pyotp.random_base32(), 1_800_000_000
    code = pyotp.TOTP(secret).at(now)
    step = now // 30
    assert totp.matching_step(secret, code, now=now) == step
    assert totp.matching_step(secret, code, now=now + 30) == step      # a phone a little behind
    assert totp.matching_step(secret, code, now=now + 90) is None       # too old
    assert totp.matching_step(secret, code, last_step=step, now=now) is None  # already used


def test_the_secret_at_rest_opens_only_with_this_portals_key(app, tmp_path):
    stored = totp.encrypt("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    assert "JBSWY3DP" not in stored and totp.decrypt(stored) == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    other = create_app({"SECRET_KEY": "otra-clave", "SQLALCHEMY_DATABASE_URI": "sqlite://",
                        "INSTANCE_PATH": str(tmp_path)})
    with other.app_context(), pytest.raises(ValueError):
        totp.decrypt(stored)


def test_recovery_codes_are_ten_distinct_and_replaced_as_a_set(app, world):
    user = world.a.user
    first = two_factor.new_recovery_codes(user)
    db.session.commit()
    assert len(set(first)) == 10 and all(len(code) == 14 and code.count("-") == 2 for code in first)
    second = two_factor.new_recovery_codes(user)
    db.session.commit()
    assert two_factor.remaining_recovery_codes(user) == 10 and not set(first) & set(second)


def test_disable_refuses_a_user_of_a_desk_that_requires_it(app, world):
    user = world.a.user
    world.a.desk.require_two_factor = True
    db.session.commit()
    with pytest.raises(two_factor.RequiredByDesk):
        two_factor.disable(user, factories.PASSWORD, "123456")
