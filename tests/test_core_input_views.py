"""Bad input: generated posts and query strings across every form and page, the key normaliser and
the grid parser fuzzed, and mass assignment of fields no form has.

The HTTP run reaches every route of app.url_map but the API (fuzzed against its OpenAPI document in
tests/test_api_openapi_views.py) and the static files; field names are the ones the portal's own pages
render (so every form is reached) plus hostile extras; values include NUL, lone surrogates, 1 MB
strings, repeated parameters and huge numbers. The bar: no answer is a 5xx.
"""
import re
from collections import Counter
from html.parser import HTMLParser
from urllib.parse import quote, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from portal.auth import tokens
from portal import clock
from portal.extensions import db
from portal.members import rules as members
from portal.models import Desk, Membership, PrepaidKey, User
from portal import key_codes
from portal.prepaid.grids import KEYS
from portal.services.grids import GRIDS
from tests import factories
from tests.abuse_helpers import STRESS, record_figure, scale
from tests.prepaid_helpers import signed_in_cookies, step_token

pytestmark = pytest.mark.abuse  # the fault and abuse suite (docs/TESTING.md)

MASS = ["desk_id", "user_id", "status", "is_admin", "role", "kind", "email_verified_at", "session_token", "id",
        "confirmed_by_id", "password_hash"]
GRID_PARAMS = ["q", "sort", "page", "per_page", "group", "cols", "formato", "resaltar", "claves", "next"]
NASTY = ["", " ", "\x00", "a\x00b", "\ud800", "\udfff", "x\udc80y", "9" * 400, "-1", "0", "1e309", "NaN", "-0",
         "99999999999999999999999", "2026-02-30", "0000-00-00", "9999-12-31", "31/12/9999", "00/00/0000",
         "../../etc/passwd", "<script>alert(1)</script>", "' OR 1=1 --", "%00", "%", "\\", "\r\n", "🙂" * 50,
         "ABCD-EFGH-JKMN-PQR7", "-sistema", "sistema,serie,,", "csv", "CSV", "https://malo.example/",
         "//malo.example", "javascript:alert(1)", "\u202e", "ñ" * 300]
BIG = ["x" * 1_048_576, "ñ" * 600_000, "9" * 200_000]
QUERY_VALUE = 4000


def _encode(text):
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate goes on the wire as its (bad) bytes


values = st.integers(0, 59).flatmap(lambda n: (
    st.sampled_from(BIG) if n == 0 else
    st.sampled_from(NASTY) if n < 25 else
    st.integers(-10**40, 10**40).map(str) if n < 32 else
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3) if n < 36 else
    st.text(max_size=40)))


class _Forms(HTMLParser):
    """Every <form>'s action, method and field names in a page."""

    def __init__(self):
        super().__init__()
        self.forms, self.current = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("method", "get").lower() != "dialog":
            self.current = (attrs.get("action") or "", attrs.get("method", "get").upper(), set())
            self.forms.append(self.current)
        elif tag in ("input", "select", "textarea", "button") and self.current and attrs.get("name"):
            self.current[2].add(attrs["name"])

    def handle_endtag(self, tag):
        if tag == "form":
            self.current = None


def _form_fields(app, pages):
    """{endpoint: field names} for every form the pages render, plus every grid's query parameters."""
    adapter = app.url_map.bind("localhost")
    fields = {}
    for html in pages:
        parser = _Forms()
        parser.feed(html)
        for action, method, names in parser.forms:
            endpoint, _ = adapter.match(urlsplit(action).path, method=method)
            fields.setdefault(endpoint, set()).update(names)
    for endpoint, grid_list in (("services.category", GRIDS.values()), ("prepaid.keys", [KEYS])):
        fields.setdefault(endpoint, set()).update(
            {p for grid in grid_list for c in grid.columns if c.filter for p in c.filter.params} | set(GRID_PARAMS))
    return {endpoint: sorted(names | set(MASS)) for endpoint, names in fields.items()}


def _pages(client, anonymous, world, key):
    """The portal's pages with forms, as desk B and signed out (the step-2 panel last)."""
    signed_in = [f"/servicios/{category}" for category in GRIDS] + [
        "/claves-prepago", "/claves-prepago/activar", "/perfil", "/perfil/actividad", "/cuenta/verificar",
        "/perfil/correo/confirmar/" + tokens.issue(tokens.CHANGE_EMAIL, world.b.user, email="nuevo@empresa.mx")]
    signed_out = ["/cuenta/ingresar", "/cuenta/crear", "/cuenta/recuperar",
                  "/cuenta/restablecer/" + tokens.issue(tokens.RESET_PASSWORD, world.b.user)]
    pages = [client.get(path).get_data(as_text=True) for path in signed_in]
    pages += [anonymous.get(path).get_data(as_text=True) for path in signed_out]
    pages.append(client.post("/claves-prepago/activar", data={"keys": key.code}, follow_redirects=True).get_data(as_text=True))
    return pages


@pytest.fixture
def no_limits(app, monkeypatch):
    """The limits would turn most generated requests into 429s after a few: the run aims past them."""
    monkeypatch.setitem(app.config, "RATELIMIT_FACTOR", 1000000)


@pytest.fixture
def unseeded_message_ids(monkeypatch):
    """Hypothesis seeds the `random` module alike for every example, and make_msgid() draws from it:
    two e-mails queued within the same 10 ms would get one Message-ID. Production never replays
    the seed (a forked worker reseeds), so the ids get a random part of their own here."""
    import secrets
    from email.utils import make_msgid

    from portal.mail import outbox
    monkeypatch.setattr(outbox, "make_msgid", lambda domain: make_msgid(secrets.token_hex(6), domain=domain))


class _Requester:
    """Sends one request to a route with (name, value) pairs, and keeps the statuses."""

    def __init__(self, client, anonymous, real, fields, routes):
        self.client, self.anonymous, self.real, self.fields, self.routes = client, anonymous, real, fields, routes
        self.statuses = Counter()

    def send(self, rule, method, pairs, path_values=None, htmx=False, in_query=False, signed_in=True):
        browser = self.client if signed_in and not rule.endpoint.startswith("auth.") else self.anonymous
        if rule.endpoint == "auth.sign_out":
            browser = self.anonymous  # the generated session stays signed in
        path = rule.rule
        for name in rule.arguments:
            chosen = (path_values or {}).get(name, "real")
            chosen = self.real[name][hash(chosen) % len(self.real[name])] if chosen == "real" else chosen
            path = re.sub(rf"<(?:\w+:)?{name}>", lambda _: quote(_encode(chosen), safe=""), path)
        query = method == "GET" or in_query
        # gunicorn refuses a request line over 4 KB before the portal sees it: big values go in bodies.
        encoded = urlencode([(_encode(k), _encode(self.real["fields"].get(k, "") if v == "real" else
                                                  v[:QUERY_VALUE] if query else v)) for k, v in pairs])
        headers = {"HX-Request": "true"} if htmx else {}
        if query:
            response = browser.open(f"{path}?{encoded}", method=method, headers=headers)
        else:
            response = browser.open(path, method=method, data=encoded, headers=headers,
                                    content_type="application/x-www-form-urlencoded")
        response.get_data()  # a streamed body (the CSV) fails while it is read, if it fails
        self.statuses[response.status_code] += 1
        assert response.status_code < 500, (method, path[:200], encoded[:300])

    def figure(self):
        return (f"{sum(n for status, n in self.statuses.items() if status >= 500)} 5xx; estados " +
                ", ".join(f"{s}×{n}" for s, n in sorted(self.statuses.items())))


@pytest.fixture
def requester(app, client, world, no_limits, unseeded_message_ids):
    """Desk B signed in (and a signed-out browser), with a system, keys and real tokens to aim at."""
    system = factories.service(world.b.desk)
    key = factories.prepaid_key()
    factories.prepaid_key(world.b.desk)
    for name, value in signed_in_cookies(app, world.b.user, world.b.desk).items():
        client.set_cookie(name, value)
    invitation = members.invite(world.b.desk, world.b.user, "invitada@empresa.mx", "viewer", now=clock.now())
    db.session.commit()
    anonymous = app.test_client()
    pages = _pages(client, anonymous, world, key)
    real = {"serial": [system.serial], "category": list(GRIDS), "token": [
        tokens.issue(tokens.RESET_PASSWORD, world.b.user), tokens.issue(tokens.VERIFY_EMAIL, world.b.user),
        tokens.issue(tokens.CHANGE_EMAIL, world.b.user, email="nuevo@empresa.mx")],
        "desk_id": [str(world.b.desk.id)], "user_id": [str(world.b.user.id), str(world.a.user.id)],
        "invitation_id": [str(invitation.id)],
        "fields": {"token": step_token(pages[-1])}}  # "real" for the step token field: a genuine one
    routes = [(rule, method) for rule in app.url_map.iter_rules()
              if rule.endpoint not in ("static", "assets.asset") and not rule.endpoint.startswith("api.")
              for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return _Requester(client, anonymous, real, _form_fields(app, pages), routes)


SWEEP = ["\x00", "\ud800", "9" * 400, "-99999999999999999999", "x" * 1_048_576]


@pytest.mark.stress
def test_every_field_of_every_form_takes_the_worst_values_without_a_5xx(requester):
    """Deterministic: each field of each form alone, with each of the nastiest values."""
    swept = 0
    for rule, method in requester.routes:
        for name in requester.fields.get(rule.endpoint, []):
            for value in SWEEP:
                if method == "GET" and len(value) > QUERY_VALUE:
                    continue
                requester.send(rule, method, [(name, value)])
                swept += 1
    forms = sorted({rule.endpoint for rule, _ in requester.routes if rule.endpoint in requester.fields})
    record_figure(f"entrada: barrido de {len(forms)} destinos de formulario × cada campo × {len(SWEEP)} valores "
                  "(NUL, sustituto suelto, números enormes, 1 MB)", f"{swept} solicitudes, {requester.figure()}", "0 5xx")
    assert len(forms) >= 14, forms


@pytest.mark.stress
def test_generated_posts_and_query_strings_never_get_a_5xx(requester):
    """Random: any route, its form's fields (and others'), hostile values, repeated, page or htmx."""
    routes, fields = requester.routes, requester.fields
    every_name = sorted({name for names in fields.values() for name in names})

    @settings(max_examples=scale(1500, 10_000), deadline=None, database=None, derandomize=not STRESS,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data(), route=st.sampled_from(routes), signed_in=st.booleans(), htmx=st.booleans(),
           in_query=st.booleans(),
           path_values=st.dictionaries(st.sampled_from(["serial", "category", "token", "user_id", "invitation_id"]),
                                       values | st.just("real")))
    def request_once(data, route, signed_in, htmx, in_query, path_values):
        own = fields.get(route[0].endpoint) or every_name
        names = st.sampled_from(own) | st.sampled_from(every_name) | st.text(max_size=12)
        pairs = data.draw(st.lists(st.tuples(names, values | st.just("real")), max_size=8))
        requester.send(*route, pairs, path_values, htmx=htmx, in_query=in_query, signed_in=signed_in)

    try:
        request_once()
    finally:
        record_figure(f"entrada: {sum(requester.statuses.values())} solicitudes generadas en {len(routes)} rutas",
                      requester.figure(), "0 5xx")


@pytest.mark.stress
@settings(max_examples=scale(2000, 20_000), deadline=None, database=None, derandomize=not STRESS)
@given(raw=st.one_of(st.text(max_size=80), values, st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
                     st.builds(lambda c, seps: "".join(ch + seps for ch in c), st.sampled_from([key_codes.generate()]),
                               st.sampled_from(["", " ", "-", "  -", "\t", "\u00a0"])),
                     st.none(), st.integers(), st.lists(st.text(max_size=3))))
def test_the_key_normaliser_returns_a_code_or_says_why(raw):
    try:
        code = key_codes.normalise(raw)
    except (key_codes.MalformedCode, key_codes.BadCheckCharacter):
        return
    assert len(code) == 16 and set(code) <= set(key_codes.ALPHABET)
    assert key_codes.normalise(code) == code == key_codes.normalise(key_codes.grouped(code).lower())


def test_the_key_normaliser_accepts_every_way_people_type_a_real_key():
    for _ in range(200):
        code = key_codes.generate()
        typed = [code.lower(), key_codes.grouped(code), " ".join(code), code.replace("0", "O").replace("1", "I"),
                 f"\u00a0{key_codes.grouped(code)}\t"]
        assert {key_codes.normalise(t) for t in typed} == {code}


@pytest.mark.stress
def test_the_grid_parser_and_its_queries_take_any_query_string(app, world):
    factories.prepaid_key(world.b.desk)
    factories.service(world.b.desk)
    grids = [(KEYS, {"desk_id": world.b.desk.id})] + [(grid, {"desk_id": world.b.desk.id}) for grid in GRIDS.values()]
    cells = {"highlighted": frozenset()}  # what the keys view hands its Clave column
    params = sorted({p for grid, _ in grids for c in grid.columns if c.filter for p in c.filter.params} | set(GRID_PARAMS))
    outcomes = Counter()

    @settings(max_examples=scale(300, 3000), deadline=None, database=None, derandomize=not STRESS,
              suppress_health_check=list(HealthCheck))
    @given(which=st.integers(0, len(grids) - 1),
           pairs=st.lists(st.tuples(st.sampled_from(params), values.filter(lambda v: len(v) < 5000)), max_size=10))
    def parse_and_query(which, pairs):
        grid, scope = grids[which]
        # What werkzeug would hand over: lone surrogates arrive replaced, NUL is refused before (portal/sanity.py).
        args = MultiDict([(k, v.encode("utf-8", "replace").decode()) for k, v in pairs if "\x00" not in v])
        state = grid.parse(args, saved_columns=None)
        drawn = grid.draw(state, cells=cells, **scope)
        if state.export:
            list(drawn)
        db.session.rollback()
        outcomes["avisos" if state.notices else "sin avisos"] += 1

    parse_and_query()
    record_figure("entrada: analizador de la cuadrícula con consultas generadas (y su SQL)",
                  f"{sum(outcomes.values())} consultas, 0 excepciones ({outcomes['avisos']} con aviso en español)",
                  "0 excepciones no controladas")


# --- mass assignment -------------------------------------------------------------------------------

def test_fields_no_form_has_are_ignored(app, client, world, login):
    a, b = world.a, world.b
    login(b.user)
    extra = {"desk_id": a.desk.id, "user_id": a.user.id, "status": "utilizada", "is_admin": "1", "role": "owner",
             "kind": "distribuidor", "email_verified_at": "2020-01-01", "session_token": "x" * 32, "email": "otro@x.mx"}
    client.post("/perfil/datos", data={"details-name": "Bea Nueva", "details-phone": "55 0000 0000", **extra})
    key = factories.prepaid_key()
    page = client.post("/claves-prepago/activar", data={"keys": key.code, **extra}, follow_redirects=True).get_data(as_text=True)
    confirmed = client.post("/claves-prepago/activar/confirmar", data={
        "token": step_token(page), "destination": "mi_negocio", "accept_license": "y", **extra})
    anonymous = app.test_client()
    from tests.accounts_helpers import sign_up_data
    extra.pop("email")  # a real field of this form
    anonymous.post("/cuenta/crear", data=sign_up_data(email="masiva@empresa.mx", rfc="MAS950612K21", **extra))

    db.session.rollback()
    user_b = db.session.get(User, b.user.id)
    key = db.session.get(PrepaidKey, key.id)
    newcomer = db.session.scalar(select(User).where(User.email == "masiva@empresa.mx"))
    new_desk = db.session.scalar(select(Desk).where(Desk.rfc == "MAS950612K21"))
    ignored = {
        "perfil: solo nombre y teléfono": (user_b.name, user_b.email, user_b.session_token != "x" * 32) == (
            "Bea Nueva", b.user.email, True),
        "perfil: sigue en su escritorio": {m.desk_id for m in db.session.scalars(
            select(Membership).where(Membership.user_id == b.user.id))} == {b.desk.id},
        "clave: al escritorio de la sesión": confirmed.status_code == 303 and key.desk_id == b.desk.id,
        "crear cuenta: cliente, sin verificar": newcomer is not None and new_desk.kind == "cliente"
        and newcomer.email_verified_at is None,
        "crear cuenta: nada en el escritorio A": db.session.scalar(select(Membership).where(
            Membership.user_id == newcomer.id, Membership.desk_id == a.desk.id)) is None,
    }
    record_figure("entrada: asignación masiva de desk_id, status, is_admin, role, kind…",
                  f"{sum(ignored.values())}/{len(ignored)} casos ignorados", "todos ignorados")
    assert all(ignored.values()), ignored
    assert key.status == "utilizada" and key.confirmed_on == factories.today()  # by the rules, not by "status"


# --- what the fuzzing found, kept fixed -------------------------------------------------------------

@pytest.mark.parametrize("method, path, body, status", [
    ("GET", "/servicios/suscripciones?q=a%00b", None, 400),        # PostgreSQL stores no NUL: was a 500
    ("GET", "/claves-prepago?cliente=%00", None, 400),
    ("GET", "/servicios/%00/envios-cda", None, 400),
    ("POST", "/perfil/datos", b"details-name=%00&details-phone=1", 400),
    ("POST", "/escritorio", b"desk_id=99999999999999999999", 400),  # beyond INTEGER: was a 500
    ("GET", "/claves-prepago/activar/aviso?claves=999999999999", None, 404),
    ("GET", "/claves-prepago/activar/aviso?claves=%C2%B2", None, 404),  # "²" is a digit to isdigit()
    ("GET", "/perfil/actividad?page=%C2%B2", None, 400),
])
def test_what_the_fuzzing_found_is_a_clear_refusal(client, world, login, hx, method, path, body, status):
    login(world.b.user)
    for headers in ({}, hx):
        response = client.open(path, method=method, data=body, headers=headers,
                               content_type="application/x-www-form-urlencoded")
        assert response.status_code == status
        if status == 400 and b"desk_id" not in (body or b"") and "page=" not in path:
            assert "La solicitud contiene caracteres no válidos." in response.get_data(as_text=True)


def test_the_api_refuses_nul_and_lone_surrogates_in_its_documented_way(client):
    from tests.api_support import token

    auth = {"Authorization": f"Bearer {token()}"}
    assert client.get("/api/v1/desks?cursor=%00", headers=auth).status_code == 422
    assert client.get("/api/v1/services/A%00B", headers=auth).status_code == 404
    for text in ('"\\u0000"', '"\\ud800"'):
        response = client.put("/api/v1/desks/CBA950612K21", headers=auth, content_type="application/json",
                              data=f'{{"razon_social": {text}, "kind": "cliente", "users": []}}')
        assert response.status_code == 400 and response.json["error"]["code"] == "invalid_json"
