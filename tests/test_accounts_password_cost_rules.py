"""Password hashes: argon2id by default (OWASP's minimum at a cost sign-in can afford), older hashes
still accepted and upgraded at the next sign-in."""
import pytest
from sqlalchemy import select

from portal.auth.passwords import hash_matches, make_hash, needs_rehash, password_matches, set_password
from portal.config import SETTINGS
from portal.extensions import db
from portal.models import User
from tests import factories

CHEAP_ARGON2 = "argon2id:1024:1:1"  # the tests' own, so hundreds of users stay fast
PASSWORD = "Martillo-azul-2026"


def test_the_default_is_argon2id_at_owasps_minimum():
    assert SETTINGS["PASSWORD_HASH_METHOD"][0] == "argon2id:19456:2:1"
    stored = make_hash(PASSWORD, "argon2id:19456:2:1")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hash_matches(stored, PASSWORD) and not hash_matches(stored, PASSWORD.lower())


@pytest.mark.app_config(PASSWORD_HASH_METHOD=CHEAP_ARGON2)
def test_a_new_password_is_hashed_with_the_configured_argon2id(app):
    user = factories.user()
    set_password(user, PASSWORD)
    assert user.password_hash.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert password_matches(user, PASSWORD) and not password_matches(user, "martillo-azul-2026")


@pytest.mark.parametrize("stored", ["", "$argon2id$v=19$roto", "scrypt:1024:8:1$sal$00", "texto sin método"])
def test_a_damaged_hash_never_matches_and_never_fails(stored):
    assert hash_matches(stored, PASSWORD) is False


def test_needs_rehash_compares_method_and_strength():
    scrypt = make_hash(PASSWORD, "scrypt:1024:8:1")
    argon = make_hash(PASSWORD, CHEAP_ARGON2)
    assert needs_rehash(scrypt, CHEAP_ARGON2) and not needs_rehash(argon, CHEAP_ARGON2)
    assert needs_rehash(argon, "argon2id:2048:1:1")  # stronger settings: made again
    assert needs_rehash(argon, "scrypt:1024:8:1") and not needs_rehash(scrypt, "scrypt:1024:8:1")


@pytest.mark.app_config(PASSWORD_HASH_METHOD=CHEAP_ARGON2)
def test_an_older_hash_signs_in_and_is_upgraded_then(client, app):
    user = factories.user()
    user.password_hash = make_hash(PASSWORD, "scrypt:1024:8:1")
    db.session.commit()
    token = user.session_token
    wrong = client.post("/cuenta/ingresar", data={"email": user.email, "password": "otra-cosa-2026"})
    assert wrong.status_code == 422
    assert db.session.scalar(select(User.password_hash).where(User.id == user.id)).startswith("scrypt:")

    right = client.post("/cuenta/ingresar", data={"email": user.email, "password": PASSWORD})
    assert right.status_code == 303
    db.session.expire_all()
    stored = db.session.get(User, user.id)
    assert stored.password_hash.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert stored.session_token == token  # the user's other sessions go on
    assert client.post("/cuenta/salir").status_code in (302, 303)
    again = client.post("/cuenta/ingresar", data={"email": user.email, "password": PASSWORD})
    assert again.status_code == 303


def test_the_password_check_holds_no_database_lock(app, client, database_url, monkeypatch):
    """On SQLite a POST's transaction holds the write lock: sign-ins must not keep it through the hash."""
    import portal.auth.signin as signin

    user = factories.user()
    set_password(user, PASSWORD)
    db.session.commit()
    user_id, email = user.id, user.email
    db.session.remove()  # the test's own session holds nothing either
    real = signin.hash_matches
    writes = []

    def check_while_another_writes(stored, password):
        raw = db.engine.raw_connection()  # another process's connection, as far as the lock goes
        try:
            cursor = raw.cursor()
            if database_url.startswith("sqlite"):
                cursor.execute("PRAGMA busy_timeout = 200")
                cursor.execute("BEGIN IMMEDIATE")
            cursor.execute("UPDATE users SET phone = phone WHERE id = %d" % user_id)
            raw.commit()
            writes.append("ok")
        finally:
            raw.close()
        return real(stored, password)

    monkeypatch.setattr(signin, "hash_matches", check_while_another_writes)
    response = client.post("/cuenta/ingresar", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303 and writes == ["ok"]
