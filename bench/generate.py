"""Bench data: 1,000 desks, a distributor with 1,000,000 prepaid keys, 200,000 services.

    python -m bench.generate [--db sqlite|postgresql|all] [--scale 0.01] [--keys 10000000]

Each run drops and recreates the bench database, runs the app's migrations (`flask db upgrade`),
then bulk-loads: COPY on PostgreSQL, executemany in one transaction per table on SQLite with the
journal off. The big tables lose their secondary indexes during the load and get them back after,
then ANALYZE. Rows are plain dicts; the columns are read from the database at run time, so a column
the app adds later is filled from DERIVED (one line) or from the model's default, and a new
required column nobody knows how to fill stops the load with a message saying where to add it.
"""
import argparse
import itertools
import json
import math
import operator
import os
import random
import sys
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time as time_of_day, timedelta, timezone

from bench.common import DATA, DATA_KEY, PASSWORD, POOL_BATCH, USERS, backend_of, database_url, selected_backends
from portal import clock, folding
from portal.models.services import CATEGORIES, service_search_text
from portal.sealed import digest, seal
from portal.key_codes import ALPHABET, check_character

SEED = 2026


@dataclass
class Sizes:
    desks: int = 1_000
    keys: int = 1_000_000        # in the big distributor desk
    clients: int = 5_000         # the big desk's clients
    pool: int = 20_000           # `nueva` keys in no desk, for the confirmation benchmark
    second_keys: int = 2_000     # in the second bench user's desk
    services: int = 200_000      # across every desk
    big_services: int = 20_000   # of them, in the big desk
    years: int = 5

    def scaled(self, factor):
        """The same shape, `factor` times the size (at least a handful of each)."""
        values = {name: max(3, int(value * factor)) for name, value in asdict(self).items() if name != "years"}
        return Sizes(**values, years=self.years)


def fold(*parts):
    """Lower case without accents: what an accent-insensitive search column holds."""
    text = " ".join(str(part) for part in parts if part)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _text_of(row):
    return fold(*(value for value in row.values() if isinstance(value, str)))


def _service_search_text(row):
    # What the model's own event would store (portal/models/services.py).
    code = row["_product"] or None
    return service_search_text(code, PRODUCT_NAMES.get(code), row["name"], row["version"], row["serial"],
                               row["plan"], row["capacity"], row["status"])


# Columns the app may add, filled when the table has them: table -> column -> f(row) ("*": any table).
# Rows carry "_"-prefixed context that is not a column (a key's client name, a service's product).
DERIVED = {
    "*": {"search_text": _text_of},
    "clients": {"search_text": lambda row: folding.fold(row["razon_social"])[:200]},
    "services": {"search_text": _service_search_text},
}

PRODUCTS = [("SAE", "Aspel SAE", "9.0"), ("COI", "Aspel COI", "10.0"), ("NOI", "Aspel NOI", "11.0"),
            ("CAJA", "Aspel CAJA", "5.0"), ("FACTURE", "Aspel FACTURE", "6.0"), ("BANCO", "Aspel BANCO", "6.0"),
            ("PROD", "Aspel PROD", "4.0"), ("ADM", "Aspel ADM", "2.0")]
NAMES = ["Abarrotes", "Ferretería", "Farmacia", "Refaccionaria", "Despacho Contable", "Panificadora",
         "Constructora", "Transportes", "Clínica Dental", "Hotel", "Restaurante", "Papelería", "Óptica",
         "Tortillería", "Mueblería", "Carnicería"]
PLACES = ["San Miguel", "Del Valle", "Los Pinos", "Monterrey", "La Paz", "El Roble", "Juárez", "Hidalgo",
          "Querétaro", "Mérida", "León", "Tlaquepaque", "Cancún", "Toluca"]
CATEGORY_WEIGHTS = {"suscripciones": 45, "licenciamiento": 30, "polizas": 10, "servidor-virtual": 4,
                    "espacio": 4, "sellado-cfdi": 4, "cursos": 3}
PRODUCT_NAMES = {code: name for code, name, _version in PRODUCTS}
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


# --- progress -------------------------------------------------------------------------------

class Progress:
    """A one-line bar on stderr, redrawn at most five times a second."""

    def __init__(self, label, total, quiet=False):
        self.label, self.total, self.done, self.quiet = label, max(1, total), 0, quiet
        self.started = self.drawn = time.monotonic()

    def count(self, rows):
        for row in rows:
            self.done += 1
            if self.done % 5000 == 0 and time.monotonic() - self.drawn > 0.2:
                self.draw()
            yield row
        self.draw(final=True)

    def draw(self, final=False):
        if self.quiet:
            return
        self.drawn = time.monotonic()
        share = min(1.0, self.done / self.total)
        bar = "#" * int(share * 30)
        sys.stderr.write(f"\r  {self.label:<16} [{bar:<30}] {share:6.1%} {self.done:>10,} "
                         f"{self.drawn - self.started:6.1f} s")
        if final:
            sys.stderr.write("\n")
        sys.stderr.flush()


# --- writers: one per backend ---------------------------------------------------------------

@dataclass
class Column:
    name: str
    nullable: bool
    has_default: bool  # a server default: leaving it out is fine
    kind: str          # "date", "datetime" or "other" (how SQLite stores it)


class Writer:
    """Bulk writes into one database; subclasses know the driver."""

    backend = ""

    def __init__(self, url, quiet=False):
        from sqlalchemy import create_engine, inspect

        self.url, self.quiet = url, quiet
        engine = create_engine(url)
        try:
            inspector = inspect(engine)
            self._columns = {
                table: [Column(c["name"], c["nullable"], c.get("default") is not None, _kind(c["type"]))
                        for c in inspector.get_columns(table)]
                for table in inspector.get_table_names()
            }
        finally:
            engine.dispose()

    def columns(self, table):
        return self._columns[table]

    def load(self, table, rows, total):
        """Insert the dict rows (filled and converted as the live table needs)."""
        rows = iter(rows)
        first = next(rows, None)
        if first is None:
            return
        plan = RowPlan(self, table, first)
        tuples = plan.tuples(itertools.chain([first], rows))
        self.insert(table, plan.names, Progress(table, total, self.quiet).count(tuples))

    def convert(self, kind):
        return None  # PostgreSQL takes Python dates as they are

    def say(self, text):
        if not self.quiet:
            print(text, file=sys.stderr)


class SqliteWriter(Writer):
    backend = "sqlite"

    def __init__(self, url, quiet=False):
        import sqlite3

        super().__init__(url, quiet)
        self.conn = sqlite3.connect(url.split("sqlite:///", 1)[1], isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "foreign_keys=OFF", "temp_store=MEMORY",
                       "cache_size=-262144"):
            self.conn.execute(f"PRAGMA {pragma}")

    def next_id(self, table):
        return self.conn.execute(f'SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"').fetchone()[0]

    def scalar(self, sql, *params):
        row = self.conn.execute(sql.replace("%s", "?"), params).fetchone()
        return row[0] if row else None

    def insert(self, table, names, tuples):
        cols = ", ".join(f'"{n}"' for n in names)
        marks = ", ".join("?" for _ in names)
        self.conn.execute("BEGIN")
        self.conn.executemany(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', tuples)
        self.conn.execute("COMMIT")

    @contextmanager
    def without_indexes(self, table):
        """Drop the table's secondary indexes for the load; build them once at the end."""
        found = self.conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                                  "AND sql IS NOT NULL", (table,)).fetchall()
        for name, _sql in found:
            self.conn.execute(f'DROP INDEX "{name}"')
        try:
            yield
        finally:
            started = time.monotonic()
            for _name, sql in found:
                self.conn.execute(sql)
            self.say(f"  {table}: {len(found)} índices en {time.monotonic() - started:.1f} s")

    def convert(self, kind):
        # SQLAlchemy's SQLite types store text: 'YYYY-MM-DD' and 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC, naive).
        to_text = {"date": date.isoformat, "datetime": _sqlite_datetime}.get(kind)
        if to_text is None:
            return None
        cache = {}  # a million rows share a few thousand dates

        def memo(value):
            if value is None:
                return None
            text = cache.get(value)
            if text is None:
                text = cache[value] = to_text(value)
            return text
        return memo

    def finish(self):
        started = time.monotonic()
        self.conn.execute("ANALYZE")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.close()
        self.say(f"  ANALYZE en {time.monotonic() - started:.1f} s")


class PostgresWriter(Writer):
    backend = "postgresql"

    def __init__(self, url, quiet=False):
        import psycopg

        super().__init__(url, quiet)
        self.conn = psycopg.connect(_libpq(url))
        with self.conn.cursor() as cur:
            # The rows are consistent by construction: skip the per-row foreign-key triggers.
            cur.execute("SET session_replication_role = replica")
            cur.execute("SET maintenance_work_mem = '256MB'")
            cur.execute("SET synchronous_commit = off")
        self.conn.commit()

    def next_id(self, table):
        return self.scalar(f'SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"')

    def scalar(self, sql, *params):
        with self.conn.cursor() as cur:
            row = cur.execute(sql, params).fetchone()
        self.conn.commit()
        return row[0] if row else None

    def insert(self, table, names, tuples):
        cols = ", ".join(f'"{n}"' for n in names)
        with self.conn.cursor() as cur, cur.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
            for row in tuples:
                copy.write_row(row)
        self.conn.commit()

    @contextmanager
    def without_indexes(self, table):
        """Drop secondary indexes and unique constraints for the load; build them once at the end."""
        with self.conn.cursor() as cur:
            indexes = cur.execute(
                "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)", (table,)).fetchall()
            uniques = cur.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                                  "WHERE conrelid = %s::regclass AND contype = 'u'", (table,)).fetchall()
            for name, _ in indexes:
                cur.execute(f'DROP INDEX "{name}"')
            for name, _ in uniques:
                cur.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        self.conn.commit()
        try:
            yield
        finally:
            self.conn.rollback()
            started = time.monotonic()
            with self.conn.cursor() as cur:
                for name, definition in uniques:
                    cur.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
                for _name, definition in indexes:
                    cur.execute(definition)
            self.conn.commit()
            self.say(f"  {table}: {len(indexes) + len(uniques)} índices en {time.monotonic() - started:.1f} s")

    def finish(self):
        started = time.monotonic()
        with self.conn.cursor() as cur:
            # Explicit ids were loaded: move each sequence past them.
            tables = cur.execute("SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
                                 "AND column_name = 'id' AND column_default LIKE 'nextval%%'").fetchall()
            for (table,) in tables:
                cur.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                            f"COALESCE((SELECT MAX(id) FROM \"{table}\"), 0) + 1, false)")
        self.conn.commit()
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            # VACUUM sets the visibility map, so counts can use index-only scans as they would in life.
            cur.execute("VACUUM (ANALYZE)")
        self.conn.close()
        self.say(f"  VACUUM ANALYZE en {time.monotonic() - started:.1f} s")


def _sqlite_datetime(value):
    utc = value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value
    return utc.strftime("%Y-%m-%d %H:%M:%S.%f")


def _kind(sqltype):
    name = type(sqltype).__name__.upper()
    if name == "DATE":
        return "date"
    if "DATETIME" in name or "TIMESTAMP" in name:
        return "datetime"
    return "other"


def _libpq(url):
    return url.replace("postgresql+psycopg://", "postgresql://")


class GeneratorOutdated(RuntimeError):
    """The table has a required column the generator cannot fill."""


class RowPlan:
    """How one table's dict rows become tuples for the live table: which columns, filled how."""

    def __init__(self, writer, table, first):
        columns = writer.columns(table)
        derived = {**DERIVED["*"], **DERIVED.get(table, {})}
        self.fill = []
        for column in columns:
            if column.name in first:
                continue
            if column.name in derived:
                self.fill.append((column.name, derived[column.name]))
                continue
            default = _model_default(table, column.name)
            if default is not None:
                self.fill.append((column.name, lambda _row, value=default: value))
            elif not column.nullable and not column.has_default:
                raise GeneratorOutdated(
                    f"{table}.{column.name} es obligatoria y el generador no sabe llenarla: "
                    f"agrega una línea en DERIVED (bench/generate.py)."
                )
        kinds = {c.name: c.kind for c in columns}
        self.names = [name for name in first if name in kinds] + [name for name, _ in self.fill]
        names = self.names
        self.getter = operator.itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
        self.converters = [(index, writer.convert(kinds[name])) for index, name in enumerate(names)
                           if writer.convert(kinds[name])]

    def tuples(self, rows):
        fill, getter, converters = self.fill, self.getter, self.converters
        for row in rows:
            for name, fn in fill:
                row[name] = fn(row)
            values = getter(row)
            if converters:
                values = list(values)
                for index, convert in converters:
                    values[index] = convert(values[index])
            yield values


def _model_default(table, column):
    """The model's Python-side default for a column (computed once: one value for the whole load)."""
    from portal.extensions import db

    found = db.metadata.tables.get(table)
    default = found.c[column].default if found is not None and column in found.c else None
    if default is None:
        return None
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        return default.arg(None)
    return None


# --- the data -------------------------------------------------------------------------------

@dataclass
class Loaded:
    """What was loaded; bench/data/<backend>.json keeps it for the driver."""

    backend: str
    url: str
    today: str
    big_desk_id: int
    second_desk_id: int
    users: dict
    counts: dict
    seconds: float


def populate(url, sizes=None, password_hash=None, today=None, seed=SEED, quiet=False, data_key=DATA_KEY):
    """Load the bench data into a migrated database of either backend; returns a Loaded.
    `data_key`: the DATA_KEY the portal reading it has (portal/sealed.py)."""
    sizes = sizes or Sizes()
    # The day the served portal counts from: today in its TIMEZONE (portal/clock.py).
    today = today or clock.today(os.environ.get("TIMEZONE", "America/Mexico_City"))
    rng = random.Random(seed)
    writer = (PostgresWriter if backend_of(url) == "postgresql" else SqliteWriter)(url, quiet=quiet)
    started = time.monotonic()
    now = clock.now().replace(microsecond=0)
    ids = {table: writer.next_id(table) for table in
           ("desks", "users", "memberships", "clients", "prepaid_keys", "services", "stamp_movements", "products")}

    products = _products(writer, ids)
    desks = list(_desks(sizes, ids["desks"], now))
    big_desk, second_desk = desks[0]["id"], desks[1]["id"]
    writer.load("desks", desks, len(desks))

    users = list(_users(sizes, ids["users"], password_hash, now))
    writer.load("users", users, len(users))
    memberships = [{"id": ids["memberships"] + n, "user_id": u["id"], "desk_id": d["id"], "role": "owner"}
                   for n, (u, d) in enumerate(zip(users, desks))]
    writer.load("memberships", memberships, len(memberships))

    clients = list(_clients(sizes, ids["clients"], big_desk, now))
    writer.load("clients", clients, len(clients))

    counts = {"desks": len(desks), "users": len(users), "clients": len(clients)}
    key_total = sizes.keys + sizes.second_keys + sizes.pool
    with writer.without_indexes("prepaid_keys"):
        writer.load("prepaid_keys", _keys(rng, sizes, ids["prepaid_keys"], big_desk, second_desk, users, clients,
                                          products, today, now, data_key), key_total)
    counts["prepaid_keys"] = key_total
    with writer.without_indexes("services"):
        writer.load("services", _services(rng, sizes, ids["services"], desks, products, today, now, data_key), sizes.services)
    counts["services"] = sizes.services
    stamps = [{"id": ids["stamp_movements"] + n, "desk_id": d["id"], "kind": "credito", "quantity": 1000,
               "external_id": f"bench:credito:{d['id']}", "note": "Timbres de bienvenida", "created_at": now}
              for n, d in enumerate(desks)]
    writer.load("stamp_movements", stamps, len(stamps))
    writer.finish()
    return Loaded(backend=writer.backend, url=url, today=today.isoformat(), big_desk_id=big_desk,
                  second_desk_id=second_desk, users=dict(USERS), counts=counts,
                  seconds=round(time.monotonic() - started, 1))


def _products(writer, ids):
    """The catalogue (reused when the migration or a previous load created it): code -> (id, name)."""
    rows, found = [], {}
    next_id = ids["products"]
    for code, name, _version in PRODUCTS:
        existing = writer.scalar("SELECT id FROM products WHERE code = %s", code)
        if existing is None:
            rows.append({"id": next_id, "code": code, "name": name})
            existing, next_id = next_id, next_id + 1
        found[code] = (existing, name)
    if rows:
        writer.load("products", rows, len(rows))
    return found


def rfc(n, offset=0):
    """A well-formed company RFC (3 letters, YYMMDD, 3 characters), unique for each n."""
    m = n + offset
    letters = "".join(LETTERS[(m // 24 ** i) % 24] for i in (2, 1, 0))
    born = date(1980, 1, 1) + timedelta(days=m % 9000)
    return f"{letters}{born:%y%m%d}{LETTERS[m % 24]}{LETTERS[(m // 7) % 24]}{m % 10}"


def _company(n):
    return f"{NAMES[n % len(NAMES)]} {PLACES[(n // len(NAMES)) % len(PLACES)]} {n}"


def _desks(sizes, first_id, now):
    for n in range(sizes.desks):
        if n == 0:
            name, kind = "Distribuidora Bench del Norte S.A. de C.V.", "distribuidor"
        elif n == 1:
            name, kind = "Segunda Cuenta Bench S.A. de C.V.", "distribuidor"
        else:
            name, kind = f"{_company(n)} S.A. de C.V.", "distribuidor" if n % 10 == 0 else "cliente"
        yield {"id": first_id + n, "razon_social": name, "rfc": rfc(n), "kind": kind,
               "created_at": now, "updated_at": now}


def _users(sizes, first_id, password_hash, now):
    for n in range(sizes.desks):
        if n == 0:
            email, name = USERS["big"], "Benito Banco (distribuidor)"
        elif n == 1:
            email, name = USERS["second"], "Berta Banco (segunda cuenta)"
        else:
            email, name = f"usuario{n}@empresa{n}.com.mx", f"Usuario {n}"
        yield {"id": first_id + n, "email": email, "name": name, "phone": "55 5555 5555",
               "password_hash": password_hash, "email_verified_at": now,
               "session_token": f"{n:032x}", "created_at": now, "updated_at": now}


def _clients(sizes, first_id, desk_id, now):
    for n in range(sizes.clients):
        yield {"id": first_id + n, "desk_id": desk_id, "rfc": rfc(n, offset=50_000),
               "razon_social": f"{_company(n)} S.A. de C.V.", "created_at": now}


def _code(rng):
    body = "".join(rng.choices(ALPHABET, k=15))
    return body + check_character(body)


def _keys(rng, sizes, first_id, big_desk, second_desk, users, clients, products, today, now, data_key):
    """The big desk's keys in confirmation order (more each year), the second desk's, then the pool."""
    span = 365 * sizes.years
    start = today - timedelta(days=span - 1)
    # Density grows linearly towards today: a business that sells more each year.
    day = [start + timedelta(days=offset) for offset in range(span)]
    days = [day[min(span - 1, int(span * math.sqrt(rng.random())))] for _ in range(sizes.keys)]
    days.sort()
    noon = {}
    product_ids = [pid for pid, _name in products.values()]
    next_id = first_id
    by_user = users[0]["id"]
    for owner, dates in ((big_desk, days), (second_desk, None)):
        if dates is None:
            dates = sorted(day[rng.randrange(span)] for _ in range(sizes.second_keys))
        for confirmed in dates:
            at = noon.get(confirmed) or noon.setdefault(
                confirmed, datetime.combine(confirmed, time_of_day(12), tzinfo=timezone.utc))
            age = (today - confirmed).days
            roll = rng.random()
            code = _code(rng)
            # In a desk: the code in clear, found by its digest (portal/models/prepaid.py).
            row = {"id": next_id, "code": code, "code_digest": digest("key_code", code, data_key), "sealed_code": None,
                   "quantity": rng.choice((50, 100, 200, 500, 1000)),
                   "unit": "Timbres", "product_id": None, "status": "disponible", "batch": f"lote-{confirmed:%Y-%m}",
                   "expires_on": confirmed + timedelta(days=730), "desk_id": owner, "destination": "distribuidor",
                   "confirmed_on": confirmed, "confirmed_at": at, "confirmed_by_id": by_user,
                   "license_accepted_at": at, "activated_on": None, "client_id": None,
                   "created_at": at, "updated_at": at, "_client": ""}
            if roll < 0.08:
                row.update(unit="Usuarios adicionales", quantity=rng.choice((1, 3, 5)),
                           product_id=product_ids[int(roll * 100) % len(product_ids)])
            if roll < 0.005:
                row["status"] = "revocada"
            elif rng.random() < min(0.93, 0.35 + age / 500):
                row["status"] = "utilizada"
                row["activated_on"] = min(today, confirmed + timedelta(days=int(60 * rng.random() ** 3)))
                if rng.random() < 0.05:
                    row["destination"] = "mi_negocio"
                else:
                    client = clients[int(len(clients) * rng.random() ** 2)]
                    row["client_id"], row["_client"] = client["id"], client["razon_social"]
            next_id += 1
            yield row
    expires = today + timedelta(days=365)
    for _ in range(sizes.pool):
        code = _code(rng)
        # In no desk: the code only encrypted (the meta file keeps the pool's codes for the race).
        yield {"id": next_id, "code": None, "code_digest": digest("key_code", code, data_key),
               "sealed_code": seal("key_code", code, data_key), "quantity": 50, "unit": "Timbres", "product_id": None,
               "status": "nueva", "batch": POOL_BATCH, "expires_on": expires, "desk_id": None, "destination": None,
               "confirmed_on": None, "confirmed_at": None, "confirmed_by_id": None, "license_accepted_at": None,
               "activated_on": None, "client_id": None, "created_at": now, "updated_at": now, "_client": ""}
        next_id += 1


def _services(rng, sizes, first_id, desks, products, today, now, data_key):
    """Services in every category, the big desk's first, then the rest spread over the other desks."""
    categories = list(CATEGORY_WEIGHTS)
    weights = list(CATEGORY_WEIGHTS.values())
    codes = [(code, version) for code, _name, version in PRODUCTS]
    span = 365 * sizes.years
    for n in range(sizes.services):
        desk = desks[0] if n < sizes.big_services else desks[1 + rng.randrange(len(desks) - 1)]
        category = rng.choices(categories, weights)[0]
        code, version = codes[rng.randrange(len(codes))]
        product_id, product_name = products[code]
        activated = today - timedelta(days=rng.randrange(span))
        row = {"id": first_id + n, "desk_id": desk["id"], "category": category, "product_id": None, "name": "",
               "version": None, "users": None, "serial": None, "cda": None, "acquisition": None,
               "activated_on": activated, "next_payment_on": None, "plan": None, "capacity": None,
               "valid_from": None, "valid_until": None, "status": "activo", "created_at": now, "updated_at": now,
               "_product": ""}
        if category in ("suscripciones", "licenciamiento"):
            row.update(product_id=product_id, name=product_name, version=version, _product=code,
                       users=rng.choice((1, 1, 2, 3, 5, 10, 20)), serial=f"{code}{first_id + n:09d}",
                       cda=seal("cda", f"{rng.getrandbits(80):020X}", data_key),  # as the model stores it
                       acquisition="fisica" if rng.random() < 0.15 else "electronica")
            if category == "suscripciones":
                row["next_payment_on"] = today + timedelta(days=rng.randrange(1, 31))
        else:
            valid_until = activated + timedelta(days=365)
            row.update(name=f"{CATEGORIES[category]} {code}", plan=rng.choice(("Básica", "Plus", "Premium")),
                       valid_from=activated, valid_until=valid_until,
                       status="activo" if valid_until >= today else "vencido")
            if category == "servidor-virtual":
                row.update(serial=f"SV{first_id + n:09d}", capacity=rng.choice(("8 GB RAM", "16 GB RAM")))
            elif category == "espacio":
                row["capacity"] = rng.choice(("10 GB", "50 GB", "100 GB"))
        yield row


# --- the database itself --------------------------------------------------------------------

def recreate(url):
    """An empty database at `url` (the SQLite file removed; the PostgreSQL database dropped)."""
    if backend_of(url) == "sqlite":
        path = url.split("sqlite:///", 1)[1]
        DATA.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.remove(path + suffix)
            except FileNotFoundError:
                pass
        return
    import psycopg

    base, name = _libpq(url).rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def migrate(url):
    """`flask db upgrade` on `url`; returns the bench password hashed with the configured method."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.auth.passwords import hash_password
    from portal.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-generate", "DATA_KEY": DATA_KEY})
    with app.app_context():
        upgrade()
        db.engine.dispose()
        return hash_password(PASSWORD), app.config["PASSWORD_HASH_METHOD"]


def generate(backend, sizes, url=None, meta_path=None):
    """The bench database made afresh and loaded; its description in bench/data/<backend>.json (or `meta_path`).

    `url` and `meta_path` are for another database than the bench's own (bench/scale.py's); returns the description.
    """
    url = url or database_url(backend)
    started = time.monotonic()
    print(f"== {backend}: {url}", file=sys.stderr)
    recreate(url)
    password_hash, method = migrate(url)
    print(f"  migraciones en {time.monotonic() - started:.1f} s (contraseña con {method})", file=sys.stderr)
    loaded = populate(url, sizes, password_hash)
    loaded.seconds = round(time.monotonic() - started, 1)
    meta = asdict(loaded) | {"password_hash_method": method, "sizes": asdict(sizes)}
    meta_path = meta_path or DATA / f"{backend}.json"
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps(meta, indent=2))
    print(f"== {backend}: listo en {loaded.seconds:.0f} s", file=sys.stderr)
    return meta


def sizes_of(scale=1.0, keys=None):
    """The default sizes, or all of them `scale` times; `keys` then sets the big desk's keys alone."""
    sizes = Sizes() if scale == 1.0 else Sizes().scaled(scale)
    return sizes if keys is None else replace(sizes, keys=keys)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="all", help="sqlite, postgresql o all (BENCH_DBS elige con all)")
    parser.add_argument("--scale", type=float, default=1.0, help="fracción del tamaño completo (p. ej. 0.01)")
    parser.add_argument("--keys", type=int, help="claves del escritorio grande (lo demás como está; make bench "
                                                 "rechaza otro número)")
    args = parser.parse_args(argv)
    backends = selected_backends() if args.db == "all" else [args.db]
    sizes = sizes_of(args.scale, args.keys)
    DATA.mkdir(parents=True, exist_ok=True)
    for backend in backends:
        generate(backend, sizes)


if __name__ == "__main__":
    main()
