"""Demo data: two desks anyone can sign in to, systems in every category, thousands of keys."""
import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone

from flask import current_app
from sqlalchemy import insert, select

from portal.auth.passwords import hash_password
from portal.extensions import db
from portal.models import Client, Desk, Membership, PrepaidKey, Product, Service, StampMovement, User
from portal.models.prepaid import code_digest
from portal.models.services import dated_status
from portal import clock, key_codes

DEMO_PASSWORD = "demo12345"
PRODUCTS = [
    ("SAE", "Aspel SAE"), ("COI", "Aspel COI"), ("NOI", "Aspel NOI"), ("CAJA", "Aspel CAJA"),
    ("FACTURE", "Aspel FACTURE"), ("BANCO", "Aspel BANCO"), ("PROD", "Aspel PROD"), ("ADM", "Aspel ADM"),
]
VERSIONS = {"SAE": "9.0", "COI": "10.0", "NOI": "11.0", "CAJA": "5.0", "FACTURE": "6.0",
            "BANCO": "6.0", "PROD": "4.0", "ADM": "2.0"}
CUSTOMER = ("Comercializadora del Bajío S.A. de C.V.", "CBA950612K21", "cliente")
DISTRIBUTOR = ("Sistemas Integrales del Norte S.A. de C.V.", "SIN080415N97", "distribuidor")
SECOND_DESK = ("Papelería La Estrella S.A. de C.V.", "PES120301Q45", "cliente")
CLIENT_NAMES = ["Abarrotes", "Ferretería", "Farmacia", "Refaccionaria", "Despacho Contable", "Panificadora",
                "Constructora", "Transportes", "Clínica Dental", "Hotel", "Restaurante", "Papelería"]
PLACES = ["San Miguel", "Del Valle", "Los Pinos", "Monterrey", "La Paz", "El Roble", "Juárez", "Hidalgo"]


class DemoRefused(RuntimeError):
    """Demo data is never loaded into production."""


@dataclass
class DemoResult:
    created: bool
    fresh_keys: list = field(default_factory=list)

    def summary(self, url):
        lines = [
            "Datos de demostración " + ("creados." if self.created else "ya existían; no se duplicaron."),
            "",
            f"Inicia sesión en {url}/cuenta/ingresar con:",
            f"  Cliente:      cliente@demo.mx       contraseña {DEMO_PASSWORD}",
            f"  Distribuidor: distribuidor@demo.mx  contraseña {DEMO_PASSWORD}",
            f"  Colegas de Laura en su escritorio: usuario@demo.mx (Usuario), consulta@demo.mx (Consulta),"
            f" contraseña {DEMO_PASSWORD}",
            "",
            "Claves de prepago nuevas para probar la activación:",
        ]
        lines += [f"  {key_codes.grouped(code)}" for code in self.fresh_keys]
        return "\n".join(lines)


def load_demo(today):
    """Create the demo once, dated from `today`; every run prints five unconfirmed demo keys."""
    if current_app.config["PRODUCTION"]:
        raise DemoRefused("La carga de datos de demostración está deshabilitada en producción.")
    created = db.session.scalar(select(Desk).where(Desk.rfc == CUSTOMER[1])) is None
    if created:
        _create(random.Random(2026), today)
    else:
        _bring_up_to(today)
    fresh = _fresh_keys(5, today)
    db.session.commit()
    return DemoResult(created=created, fresh_keys=fresh)


def _create(rng, today):
    products = {}
    for code, name in PRODUCTS:
        product = db.session.scalar(select(Product).where(Product.code == code))
        if product is None:
            product = Product(code=code, name=name)
            db.session.add(product)
        products[code] = product
    customer, distributor, second = (Desk(razon_social=n, rfc=r, kind=k) for n, r, k in (CUSTOMER, DISTRIBUTOR, SECOND_DESK))
    db.session.add_all([customer, distributor, second])
    password = hash_password(DEMO_PASSWORD)
    verified = clock.now()
    laura = User(email="cliente@demo.mx", name="Laura Méndez", phone="477 123 4567",
                 password_hash=password, email_verified_at=verified)
    jorge = User(email="distribuidor@demo.mx", name="Jorge Ramírez", phone="81 8765 4321",
                 password_hash=password, email_verified_at=verified)
    # Laura's colleagues (Mi escritorio > Usuarios): one who installs the systems, one who only looks.
    pedro = User(email="usuario@demo.mx", name="Pedro Ruiz", password_hash=password, email_verified_at=verified)
    sofia = User(email="consulta@demo.mx", name="Sofía Contreras (Contabilidad)", password_hash=password,
                 email_verified_at=verified)
    db.session.add_all([laura, jorge, pedro, sofia])
    db.session.add_all([
        Membership(user=laura, desk=customer, role="owner"),
        Membership(user=pedro, desk=customer, role="member"),
        Membership(user=sofia, desk=customer, role="viewer"),
        Membership(user=jorge, desk=distributor, role="owner"),
        Membership(user=jorge, desk=second, role="member"),
    ])
    db.session.flush()
    for index, desk in enumerate((customer, distributor, second)):
        _services(rng, desk, products, today, index)
    _keys(rng, distributor, customer, today)


def _serial(rng, code):
    return f"{code}{rng.randrange(10**8, 10**9)}"


def _services(rng, desk, products, today, desk_index):
    rows = []
    for position, (code, _name) in enumerate(PRODUCTS):
        product = products[code]
        activated = today - timedelta(days=rng.randrange(30, 700))
        rows.append(Service(
            desk_id=desk.id, category="suscripciones", product=product, version=VERSIONS[code],
            users=rng.choice([1, 1, 3, 5, 10]), serial=_serial(rng, code), cda=secrets.token_hex(10).upper(),
            acquisition="electronica", activated_on=activated,
            next_payment_on=today + timedelta(days=rng.randrange(1, 31)),
        ))
        rows.append(Service(
            desk_id=desk.id, category="licenciamiento", product=product, version=VERSIONS[code],
            users=rng.choice([1, 2, 5]), serial=_serial(rng, code), cda=secrets.token_hex(10).upper(),
            acquisition="fisica" if position % 3 == 2 else "electronica", activated_on=activated,
        ))
        start = today - timedelta(days=rng.randrange(10, 300))
        rows.append(Service(
            desk_id=desk.id, category="polizas", product=product, name=f"Póliza de soporte {code}",
            plan=rng.choice(["Básica", "Plus", "Premium"]), valid_from=start, valid_until=start + timedelta(days=365),
            status=dated_status(start + timedelta(days=365), today),
        ))
    for n, plan in enumerate(["Servidor Básico 2 vCPU", "Servidor Empresarial 4 vCPU"]):
        start = today - timedelta(days=90 * (n + 1))
        rows.append(Service(desk_id=desk.id, category="servidor-virtual", name=f"Aspel en la nube {n + 1}",
                            plan=plan, capacity=f"{(n + 1) * 8} GB RAM", serial=f"SV{desk_index}{n}{rng.randrange(10**6)}",
                            valid_from=start, valid_until=start + timedelta(days=365), activated_on=start,
                            status=dated_status(start + timedelta(days=365), today)))
    for n, size in enumerate(["10 GB", "50 GB", "100 GB"]):
        start = today - timedelta(days=40 * (n + 1))
        rows.append(Service(desk_id=desk.id, category="espacio", name=f"Espacio de respaldo {size}",
                            plan="Respaldo en línea", capacity=size, valid_from=start,
                            valid_until=start + timedelta(days=365), activated_on=start,
                            status=dated_status(start + timedelta(days=365), today)))
    for n, stamps in enumerate(["500 Timbres", "1000 Timbres"]):
        start = today - timedelta(days=60 * (n + 1))
        rows.append(Service(desk_id=desk.id, category="sellado-cfdi", name="Sellado CFDI 4.0", plan=stamps,
                            valid_from=start, valid_until=start + timedelta(days=365), activated_on=start,
                            status=dated_status(start + timedelta(days=365), today)))
    for n, course in enumerate(["Aspel SAE básico", "Aspel COI cierre anual", "Aspel NOI nómina 2026"]):
        # One finished last week, one under way, one next week.
        start = today + timedelta(days=7 * (n - 1))
        rows.append(Service(desk_id=desk.id, category="cursos", name=course, plan="En línea",
                            valid_from=start, valid_until=start + timedelta(days=2),
                            status=dated_status(start + timedelta(days=2), today)))
    db.session.add_all(rows)
    db.session.add(StampMovement(desk_id=desk.id, kind="credito", quantity=1500, external_id=f"demo:servicio:{desk.id}",
                                 note="Timbres de los servicios de Sellado CFDI"))
    db.session.add(StampMovement(desk_id=desk.id, kind="consumo", quantity=rng.randrange(100, 900),
                                 external_id=f"demo:consumo:{desk.id}", note="Timbres usados"))


def _keys(rng, distributor, customer, today):
    """Keys as the rules leave them: the distributor's Disponible or Utilizada by one of its
    clients; the customer's confirmed for Mi Negocio, so Utilizada by the customer itself from the
    day it was confirmed, its Timbres credited one movement per key (as confirm_key does)."""
    clients = []
    for n in range(40):
        client = Client(desk_id=distributor.id, rfc=f"EMP9001{n % 28 + 1:02d}A{n // 28}{n % 10}",
                        razon_social=f"{rng.choice(CLIENT_NAMES)} {rng.choice(PLACES)} {n + 1}")
        clients.append(client)
    own_company = Client(desk_id=customer.id, rfc=customer.rfc, razon_social=customer.razon_social)
    db.session.add_all([*clients, own_company])
    db.session.flush()
    rows = []
    seen = set()

    def code():
        while True:
            value = key_codes.generate()
            if value not in seen:
                seen.add(value)
                return value

    for desk, count in ((distributor, 3000), (customer, 300)):
        for _ in range(count):
            confirmed = today - timedelta(days=rng.randrange(0, 730))
            quantity = rng.choice([50, 100, 200, 500])
            clear = code()
            # In a desk: the code in clear (portal/models/prepaid.py), found by its digest.
            row = dict(shown_code=clear, code_digest=code_digest(clear), quantity=quantity, unit="Timbres", status="disponible",
                       desk_id=desk.id, destination="distribuidor" if desk is distributor else "mi_negocio",
                       confirmed_on=confirmed,
                       confirmed_at=datetime.combine(confirmed, time(12), tzinfo=timezone.utc),
                       license_accepted_at=datetime.combine(confirmed, time(12), tzinfo=timezone.utc),
                       batch="demo-historia", activated_on=None, client_id=None,
                       expires_on=confirmed + timedelta(days=730))
            if desk is customer:
                row.update(status="utilizada", activated_on=confirmed, client_id=own_company.id)
            elif rng.random() < 0.6:
                row.update(status="utilizada", client_id=rng.choice(clients).id,
                           activated_on=min(today, confirmed + timedelta(days=rng.randrange(0, 20))))
            rows.append(row)
    db.session.execute(insert(PrepaidKey), rows)
    own_keys = db.session.execute(
        select(PrepaidKey.id, PrepaidKey.shown_code, PrepaidKey.quantity).where(PrepaidKey.desk_id == customer.id)
    ).all()
    db.session.execute(insert(StampMovement), [
        dict(desk_id=customer.id, kind="credito", quantity=quantity, external_id=f"key:{key_id}",
             note=f"Clave de prepago {key_codes.masked(key_code)}")
        for key_id, key_code, quantity in own_keys
    ])


def _bring_up_to(today):
    """A demo loaded days ago, as the days since would have left it: courses and policies that
    ended are Vencido, a subscription's next payment is still ahead."""
    desks = select(Desk.id).where(Desk.rfc.in_([CUSTOMER[1], DISTRIBUTOR[1], SECOND_DESK[1]]))
    services = db.session.scalars(select(Service).where(Service.desk_id.in_(desks), Service.status == "activo"))
    for service in services:
        if service.valid_until is not None:
            service.status = dated_status(service.valid_until, today)
        while service.next_payment_on is not None and service.next_payment_on < today:
            service.next_payment_on += timedelta(days=30)


def _fresh_keys(count, today):
    """`count` demo keys still `nueva`, issued now if fewer remain."""
    existing = [key.code for key in db.session.scalars(
        select(PrepaidKey).where(PrepaidKey.batch == "demo", PrepaidKey.status == "nueva")
        .order_by(PrepaidKey.id).limit(count))]
    missing = count - len(existing)
    new = []
    for _ in range(missing):
        key = PrepaidKey(code=key_codes.generate(), quantity=50, unit="Timbres", batch="demo",
                         expires_on=today + timedelta(days=365))
        db.session.add(key)
        new.append(key.code)
    return list(existing) + new
