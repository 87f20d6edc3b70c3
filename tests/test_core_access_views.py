"""Access control crawl: every URL rule with a variable, requested by desk B with desk A's ids.

The rules come from app.url_map, so a route added tomorrow fails the coverage assertion until it
is crawled here (or allowed, with a reason, in ALLOWED). Pages, htmx fragments, CSV exports and
the API (without a token, and with a token lacking the operation's scope). A leak is any answer
that is not a refusal or that carries one of desk A's identifying strings.
"""
import base64
import json
import re
from urllib.parse import unquote_plus

import pytest

from portal import clock
from portal.alerts import unsubscribe
from portal.members import links as member_links, rules
from portal.auth import tokens
from portal.extensions import db
from portal.models import PrepaidKey
from portal.models.api_tokens import API_SCOPES
from tests import factories
from tests.abuse_helpers import record_figure
from tests.api_support import token as api_token

pytestmark = pytest.mark.abuse  # the fault and abuse suite (docs/TESTING.md)

# Rules with variables that are not anyone's data, and why.
ALLOWED = {
    "static": "public files shipped with the portal (CSS, JS, images): the same for everyone",
    "assets.asset": "the same public files under their content hash",
}
REFUSED = {401, 403, 404}
HX = {"HX-Request": "true"}


class DeskA:
    """Desk A's data, and every string that would identify it in someone else's answer."""

    def __init__(self, world):
        self.desk, self.user = world.a.desk, world.a.user
        self.system = factories.service(self.desk, "suscripciones", product_code="COI")
        self.key = factories.prepaid_key(self.desk)  # Disponible in A (a distributor desk)
        self.client = factories.client(self.desk, razon_social="Cliente Secreto de A")
        self.used_key = factories.prepaid_key(self.desk, status="utilizada", client=self.client)
        self.invitation = rules.invite(self.desk, self.user, "invitada-de-a@empresa-a.mx", "member", now=clock.now())
        db.session.commit()
        self.strings = [self.desk.razon_social, self.desk.rfc, self.user.email, self.system.serial, self.system.cda,
                        self.key.code, self.used_key.code, self.client.razon_social, self.client.rfc,
                        "-".join(self.key.code[i:i + 4] for i in range(0, 16, 4)), self.invitation.email]

    def leaks(self, body, sent=""):
        """A's strings in `body`, but those B typed itself (`sent`: an echoed URL tells B nothing new)."""
        return [s for s in self.strings if s and s in body and s not in sent]


def _repointed(purpose, own_user, target_user, **data):
    """B's own genuine token with the user id changed to A's (the signature no longer fits)."""
    genuine = tokens.issue(purpose, own_user, **data)
    payload, _, signature = genuine.partition(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded["u"] = target_user.id
    forged = base64.urlsafe_b64encode(json.dumps(decoded, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{forged}.{signature}"


def _values(a, b_user):
    """The value of each URL variable: desk A's id of that kind."""
    return {
        "serial": a.system.serial,
        "code": a.key.code,
        "rfc": a.desk.rfc,
        "category": "suscripciones",  # not an id: B's own list, which must not show A's rows
        "desk_id": str(a.desk.id),
        "invitation_id": str(a.invitation.id),
        "user_id": str(a.user.id),
    }


TOKEN_PURPOSE = {"auth.reset": tokens.RESET_PASSWORD, "auth.verify_email": tokens.VERIFY_EMAIL,
                 "profile.confirm_email": tokens.CHANGE_EMAIL, "auth.set_password": tokens.SET_PASSWORD}


def _forged_link(genuine, payload):
    """A genuine link of B's with its payload swapped for one naming A's data (the signature no longer fits)."""
    encoded = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return encoded + "." + genuine.split(".", 1)[1]


def _plain(rule):
    """The rule's path with its variables named bare (<secret:code> -> <code>)."""
    return re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"<\1>", rule)


def _rules(app):
    """(rule, method) for every rule with a variable, but the allowed ones."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.arguments and rule.endpoint not in ALLOWED:
            found += [(rule, method) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return found


def test_every_rule_with_an_id_refuses_another_desk_and_leaks_nothing(app, client, world, login):
    a = DeskA(world)
    login(world.b.user)
    values = _values(a, world.b.user)
    document = client.get("/api/v1/openapi.json").get_json()
    scoped = {scope: api_token(f"solo-{scope.replace(':', '-')}", [scope]) for scope in API_SCOPES}
    covered, leaks, requests_made = [], [], 0
    own_invitation = None

    def check(rule, method, url, response, allowed):
        nonlocal requests_made
        requests_made += 1
        found = a.leaks(response.get_data(as_text=True), sent=url)
        if response.status_code not in allowed or found:
            leaks.append((rule.rule, method, url, response.status_code, found))

    for rule, method in _rules(app):
        if rule.endpoint.startswith("api."):
            url = _plain(rule.rule).replace("<rfc>", a.desk.rfc).replace("<code>", a.key.code).replace("<serial>", a.system.serial)
            operation = _operation(document, rule.rule, method)
            lacking = next(scope for scope in API_SCOPES if scope not in operation["x-scopes"])
            check(rule, method, url, client.open(url, method=method, json={}), {401})
            check(rule, method, url, client.open(url, method=method, json={},
                                                  headers={"Authorization": f"Bearer {scoped[lacking]}"}), {403})
        elif rule.endpoint in TOKEN_PURPOSE:
            purpose = TOKEN_PURPOSE[rule.endpoint]
            extra = {"email": "nuevo-de-b@empresa.mx"} if purpose == tokens.CHANGE_EMAIL else {}
            url = _plain(rule.rule).replace("<token>", _repointed(purpose, world.b.user, a.user, **extra))
            for headers in ({}, HX):
                check(rule, method, url, client.open(url, method=method, headers=headers), {400})
            if rule.endpoint == "profile.confirm_email":
                # A's genuine link, opened in B's session: refused, not applied to either account.
                genuine = _plain(rule.rule).replace("<token>", tokens.issue(purpose, a.user, email="robado@empresa.mx"))
                check(rule, method, genuine, client.open(genuine, method=method), {403})
        elif rule.endpoint in ("members.invitation", "members.handover"):
            # B's own genuine links (an invitation of B's desk, a hand-over in it) repointed at A's.
            if rule.endpoint == "members.invitation":
                own = own_invitation or rules.invite(world.b.desk, world.b.user, "invitada-de-b@empresa-b.mx", "member",
                                                     now=clock.now())
                own_invitation = own
                db.session.commit()
                token = _forged_link(member_links.invitation_token(own), [a.invitation.id, a.invitation.nonce])
            else:
                genuine = member_links.handover_token(world.b.desk.id, world.b.user.id, world.b.user.id)
                token = _forged_link(genuine, [a.desk.id, a.user.id, world.b.user.id])
            url = _plain(rule.rule).replace("<token>", token)
            for headers in ({}, HX):
                check(rule, method, url, client.open(url, method=method, headers=headers), {400})
        elif rule.endpoint == "profile.unsubscribe":
            # B's own unsubscribe token with A's user and desk in it: the signature no longer fits.
            signature = unsubscribe.issue(world.b.user.id, world.b.desk.id, "payments").partition(".")[2]
            forged = base64.urlsafe_b64encode(json.dumps([a.user.id, a.desk.id, "payments"]).encode()).rstrip(b"=")
            url = _plain(rule.rule).replace("<token>", f"{forged.decode()}.{signature}")
            for headers in ({}, HX):
                check(rule, method, url, client.open(url, method=method, headers=headers), {400})
        else:
            url = _plain(rule.rule)
            for name in rule.arguments:
                url = re.sub(rf"<(?:\w+:)?{name}>", values[name], url)
            # A category is not an id: B's own list (a POST saves B's own "Columnas" and comes back).
            allowed = ({200, 303} if method == "POST" else {200}) if rule.arguments == {"category"} else REFUSED
            for headers in ({}, HX):
                check(rule, method, url, client.open(url, method=method, headers=headers), allowed)
        covered.append((rule.rule, method))

    # Positive control: the same addresses do show A's data to A, so the refusals above mean something.
    owner = app.test_client()
    login(a.user, target=owner)
    shown = owner.get(f"/servicios/{a.system.serial}/envios-cda")
    assert shown.status_code == 200 and a.system.serial in shown.get_data(as_text=True)

    expected = [(rule.rule, method) for rule, method in _rules(app)]
    record_figure("acceso: reglas con identificador pedidas por el escritorio B con los de A",
                  f"{len(covered)}/{len(expected)} reglas cubiertas, {requests_made} solicitudes, {len(leaks)} fugas",
                  "100% cubiertas, 0 fugas")
    assert sorted(covered) == sorted(expected)
    assert leaks == []
    db.session.rollback()
    assert db.session.get(PrepaidKey, a.key.id).status == "disponible"  # nothing was changed


def _operation(document, rule, method):
    path = _plain(rule).removeprefix("/api/v1").replace("<", "{").replace(">", "}")
    return document["paths"][path][method.lower()]


def test_ids_in_query_strings_forms_and_exports_refuse_another_desk(app, client, world, login):
    a = DeskA(world)
    login(world.a.user)
    # Positive control: A itself sees its data through the same addresses.
    own = client.get(f"/claves-prepago?q={a.key.code}&formato=csv&desde=2000-01-01").get_data(as_text=True)
    assert a.key.code in own
    client.post("/cuenta/salir")
    login(world.b.user)
    probes = {
        "aviso de claves de A": client.get(f"/claves-prepago/activar/aviso?claves={a.key.id},{a.used_key.id}"),
        "resaltar claves de A": client.get(f"/claves-prepago?resaltar={a.key.id}&desde=2000-01-01"),
        "buscar clave de A (CSV)": client.get(f"/claves-prepago?q={a.key.code}&formato=csv&desde=2000-01-01"),
        "buscar clave de A (htmx)": client.get(f"/claves-prepago?q={a.key.code}&desde=2000-01-01", headers=HX),
        "buscar serie de A (CSV)": client.get(f"/servicios/suscripciones?q={a.system.serial}&formato=csv"),
        "filtrar por cliente de A": client.get(f"/claves-prepago?cliente={a.client.razon_social}&desde=2000-01-01"),
        "cambiar al escritorio de A": client.post("/escritorio", data={"desk_id": a.desk.id}),
        "campos desk_id en formularios": client.post("/perfil/datos", data={"details-name": "B", "details-phone": "55",
                                                                            "desk_id": a.desk.id}),
    }
    leaks = {name: (r.status_code, a.leaks(r.get_data(as_text=True), sent=unquote_plus(r.request.url))) for name, r in probes.items()
             if a.leaks(r.get_data(as_text=True), sent=unquote_plus(r.request.url)) or r.status_code >= 500}
    record_figure("acceso: identificadores de A en consultas, formularios y exportaciones de B",
                  f"{len(probes)} sondas, {len(leaks)} fugas", "0 fugas")
    assert leaks == {}
    assert probes["aviso de claves de A"].status_code == 404
    assert probes["cambiar al escritorio de A"].status_code == 404
    page = client.get("/claves-prepago?desde=2000-01-01").get_data(as_text=True)
    assert world.b.desk.razon_social in page and not a.leaks(page)  # still in B's own desk


@pytest.mark.parametrize("path", ["/perfil", "/claves-prepago", "/servicios/suscripciones", "/perfil/actividad"])
def test_signed_out_requests_get_nothing(client, world, path):
    DeskA(world)
    response = client.get(path)
    assert response.status_code == 302 and "/cuenta/ingresar" in response.headers["Location"]
