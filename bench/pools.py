"""Per-request values read from the bench database: the big desk's serials, fresh keys to validate and to race."""
from bench.common import DATA_KEY, POOL_BATCH, USERS
from portal.sealed import unseal

RACE_KEYS = 4000      # offered to both users in the confirmation race (used up: make bench-data renews them)
PROBE_KEYS = 10       # confirmed by the race's probe through the real step 1 (never raced)
VALIDATE_KEYS = 2000  # validated again and again (validation changes nothing)


class Pools:
    """Per-request values read from the database: the big desk's serials, fresh keys."""

    def __init__(self, url, meta):
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.connect() as conn:
            self.serials = list(conn.execute(text(
                "SELECT serial FROM services WHERE desk_id = :desk AND category = 'suscripciones' "
                "AND acquisition = 'electronica' AND serial IS NOT NULL ORDER BY id"), {"desk": meta["big_desk_id"]}
            ).scalars())
            # A key in no desk keeps its code encrypted (portal/sealed.py): the bench holds DATA_KEY.
            keys = [unseal("key_code", sealed, DATA_KEY) for sealed in conn.execute(text(
                "SELECT sealed_code FROM prepaid_keys WHERE status = 'nueva' AND batch = :batch ORDER BY id"),
                {"batch": POOL_BATCH}).scalars()]
            self.user_ids = {who: conn.execute(text("SELECT id FROM users WHERE email = :email"),
                                               {"email": email}).scalar_one() for who, email in USERS.items()}
        engine.dispose()
        self.url = url
        self.desk_ids = {"big": meta["big_desk_id"], "second": meta["second_desk_id"]}
        # Validation reads keys (the last ones, every run); the race confirms them (the first, used up),
        # its probe a few of its own (a raced key confirmed by the probe would look like a double).
        enough = len(keys) > RACE_KEYS + PROBE_KEYS + VALIDATE_KEYS
        self.race_keys = keys[:RACE_KEYS] if enough else []
        self.probe_keys = keys[RACE_KEYS:RACE_KEYS + PROBE_KEYS] if enough else []
        self.keys = keys[-VALIDATE_KEYS:]

    def values(self, pool):
        if pool == "serials":
            return [{"serial": s} for s in self.serials]
        if pool == "keys":
            return [{"code": c} for c in self.keys]
        if pool == "race_keys":
            return [{"code": c} for c in self.race_keys]
        return [{}]
