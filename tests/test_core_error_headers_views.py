"""Headers: every route of app.url_map (GET, signed in and out, page and htmx) and every error page
carries CSP with frame-ancestors, nosniff and a Referrer-Policy; account pages are never stored.
"""
import re
import pytest

from portal.auth import tokens
from portal.services.grids import GRIDS
from tests import factories
from tests.abuse_helpers import record_figure
from tests.api_support import token as api_token

pytestmark = pytest.mark.abuse  # the fault and abuse suite (docs/TESTING.md)


def _missing(response, account_page):
    """What a response lacks of the headers every answer must carry."""
    missing = []
    csp = response.headers.get("Content-Security-Policy", "")
    if "frame-ancestors" not in csp:
        missing.append("CSP frame-ancestors")
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        missing.append("nosniff")
    if not response.headers.get("Referrer-Policy"):
        missing.append("Referrer-Policy")
    if "camera=()" not in response.headers.get("Permissions-Policy", ""):
        missing.append("Permissions-Policy")
    if account_page and "no-store" not in response.headers.get("Cache-Control", ""):
        missing.append("no-store")
    return missing


def _get_urls(app, world, system, key):
    """Every GET rule with its variables filled with real values of desk B."""
    values = {"serial": system.serial, "code": key.code, "rfc": world.b.desk.rfc, "filename": None}
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        if rule.endpoint == "services.category":
            urls += [(rule.endpoint, f"/servicios/{category}") for category in GRIDS]
            continue
        url = re.sub(r"<(?:secret|int):(\w+)>", r"<\1>", rule.rule)  # a converter says nothing here
        for name in rule.arguments:
            if name == "token":
                purpose = {"auth.reset": tokens.RESET_PASSWORD, "auth.verify_email": tokens.VERIFY_EMAIL}.get(
                    rule.endpoint, tokens.CHANGE_EMAIL)
                extra = {"email": "nuevo@empresa.mx"} if purpose == tokens.CHANGE_EMAIL else {}
                url = url.replace("<token>", tokens.issue(purpose, world.b.user, **extra))
            elif name == "filename":
                url = url.replace("<path:filename>", "portal.css")
            else:
                url = url.replace(f"<{name}>", values[name])
        urls.append((rule.endpoint, url))
    return urls


@pytest.fixture
def failing_route(app):
    """A route that raises, for the 500 page (added before the app serves its first request)."""

    @app.get("/_abuso/falla")
    def _fails():
        raise RuntimeError("falla de prueba")


def test_every_page_fragment_export_and_error_carries_the_security_headers(app, failing_route, client, world, login):
    system = factories.service(world.b.desk)
    key = factories.prepaid_key(world.b.desk)
    secret = api_token("lectura", ["read"])
    anonymous = app.test_client()
    login(world.b.user)
    answers = []  # (what, response, is an account page)
    for endpoint, url in _get_urls(app, world, system, key):
        private = not endpoint.startswith(("static", "assets"))
        for browser, who in ((client, "con sesión"), (anonymous, "sin sesión")):
            for headers in ({}, {"HX-Request": "true"}):
                if endpoint.startswith("api."):
                    headers = {**headers, "Authorization": f"Bearer {secret}"}
                response = browser.get(url, headers=headers)
                answers.append((f"{who} {url[:50]}", response, private and response.mimetype == "text/html"))
    answers.append(("CSV", client.get("/claves-prepago?formato=csv&desde=2000-01-01"), True))
    # Error pages are signed-in pages too; the API's JSON error for an unknown address holds nothing.
    answers += [(f"error {what}", response, "API" not in what) for what, response in _error_pages(app, client)]

    lacking = [(what, response.status_code, _missing(response, account)) for what, response, account in answers
               if _missing(response, account)]
    statuses = sorted({response.status_code for _, response, _ in answers})
    record_figure("cabeceras: rutas GET (con y sin sesión, página y htmx), exportación y páginas de error",
                  f"{len(answers)} respuestas (estados {', '.join(map(str, statuses))}), {len(lacking)} sin CSP "
                  "frame-ancestors, nosniff, Referrer-Policy o no-store", "0")
    assert lacking == []
    assert {400, 404, 405, 413, 429, 500} <= set(statuses)


def _error_pages(app, client):
    """One answer of each error the portal gives, page and htmx."""
    pages = []
    for headers in ({}, {"HX-Request": "true"}):
        pages += [
            ("404", client.get("/no-existe", headers=headers)),
            ("405", client.get("/cuenta/salir", headers=headers)),
            ("413", client.post("/perfil/datos", data={"details-name": "x" * 1_100_000}, headers=headers)),
            ("400", client.get("/perfil/actividad?page=cero", headers=headers)),
            ("500", client.get("/_abuso/falla", headers=headers)),
            ("404 API", client.get("/api/v1/nada", headers=headers)),
        ]
    for _ in range(25):
        limited = app.test_client().post("/cuenta/ingresar", data={"email": "x@y.mx", "password": "z"},
                                         environ_base={"REMOTE_ADDR": "203.0.113.99"})
    pages.append(("429", limited))
    return pages


@pytest.mark.app_config(WTF_CSRF_ENABLED=True, TRUSTED_HOSTS=["localhost"])
def test_csrf_and_untrusted_host_refusals_carry_them_too(client):
    refused = [client.post("/cuenta/ingresar", data={}), client.get("/cuenta/ingresar", headers={"Host": "malo.example"})]
    assert [r.status_code for r in refused] == [400, 400]
    assert [_missing(r, True) for r in refused] == [[], []]
