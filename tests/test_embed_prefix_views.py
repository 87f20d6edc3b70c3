"""The portal under a URL prefix: mounted with DispatcherMiddleware, and behind a proxy (ProxyFix).

The smoke paths of every area are walked; every link, form action, htmx URL, asset, redirect,
htmx header and e-mail link must carry the prefix — and behind the proxy, the public scheme and host.
"""
from urllib.parse import parse_qs, urlsplit

import re
import pytest
from sqlalchemy import select
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from portal.extensions import db
from portal.models import Membership, OutboxMessage
from portal import key_codes
from tests import factories
from tests.accounts_helpers import sign_up_data
from tests.api_support import token
from tests.embed_helpers import URL_HEADERS, links_in_text, misplaced, urls_in
from tests.prepaid_helpers import step_token

PREFIX = "/portal"
PUBLIC_HOST = "intranet.example.mx"
# What an intranet's reverse proxy adds (deploy/nginx-portal.conf sends the same).
FORWARDED = {"HTTP_X_FORWARDED_FOR": "10.20.30.40", "HTTP_X_FORWARDED_PROTO": "https",
             "HTTP_X_FORWARDED_HOST": PUBLIC_HOST, "HTTP_X_FORWARDED_PREFIX": PREFIX}
CATEGORIES = ["suscripciones", "licenciamiento", "servidor-virtual", "espacio", "polizas", "sellado-cfdi", "cursos"]

MODES = [
    # PORTAL_URL: the public address each deployment declares; e-mail links start with it.
    pytest.param("mount", id="mount", marks=pytest.mark.app_config(SESSION_COOKIE_PATH=PREFIX,
                                                                   PORTAL_URL="http://localhost" + PREFIX)),
    pytest.param("proxy", id="proxy", marks=pytest.mark.app_config(PROXY_COUNT=1, SESSION_COOKIE_SECURE=True,
                                                                   PORTAL_URL=f"https://{PUBLIC_HOST}{PREFIX}")),
]


class Prefixed:
    """The test client as the intranet's browser sees the portal; every answer's URLs are checked."""

    def __init__(self, app, client, mode):
        self.client = client
        if mode == "mount":
            app.wsgi_app = DispatcherMiddleware(NotFound(), {PREFIX: app.wsgi_app})
            self.base, self.origin = PREFIX, "http://localhost"
        else:
            client.environ_base.update(FORWARDED)  # the proxy strips the prefix and says so
            self.base, self.origin = "", f"https://{PUBLIC_HOST}"
        self.outside = {app.config["STORE_URL"], app.config["SUPPORT_URL"]}
        self.problems = []
        self.seen = 0

    def open(self, method, path, status, **kwargs):
        response = self.client.open(self.base + path, method=method, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.get_data(as_text=True)[:300])
        self.check(f"{method} {path}", response)
        return response

    def get(self, path, status=200, **kwargs):
        return self.open("GET", path, status, **kwargs)

    def post(self, path, status, **kwargs):
        return self.open("POST", path, status, **kwargs)

    def follow(self, url, status=200, **kwargs):
        """GET a URL the portal gave out (public, prefixed) as the browser would."""
        path = url[len(self.origin):] if url.startswith(self.origin) else url
        assert path.startswith(PREFIX + "/"), url
        return self.get(path[len(PREFIX):], status, **kwargs)

    def check(self, what, response):
        found = [(header, response.headers[header]) for header in URL_HEADERS if header in response.headers]
        if response.mimetype == "text/html":
            found += [(f"<{tag} {attr}>", url) for tag, attr, url in urls_in(response.get_data(as_text=True))]
        self.seen += len(found)
        for where, url in found:
            problem = misplaced(url, PREFIX, self.origin, self.outside)
            if problem:
                self.problems.append(f"{what} {where}: {problem}")

    def check_mail(self):
        """Every link in every e-mail written so far: the public address, with the prefix."""
        links = 0
        for message in db.session.scalars(select(OutboxMessage)):
            for url in links_in_text(message.body_text) + links_in_text(message.body_html or ""):
                links += 1
                if not url.startswith(self.origin + PREFIX + "/"):
                    self.problems.append(f"correo «{message.subject}»: {url}")
        return links


def location(response):
    return response.headers["Location"]


@pytest.mark.parametrize("mode", MODES)
def test_every_area_under_the_prefix(app, client, world, hx, mode):
    portal = Prefixed(app, client, mode)
    user = world.a.user
    systems = {category: factories.service(world.a.desk, category) for category in CATEGORIES}
    serial = systems["suscripciones"].serial
    keys = [factories.prepaid_key(), factories.prepaid_key()]
    factories.prepaid_key(world.a.desk)
    other = factories.desk("cliente", razon_social="Segunda Empresa S.A. de C.V.")
    db.session.add(Membership(user=user, desk=other, role="owner"))
    db.session.commit()

    # Anonymous: health, the way in, and the pages before signing in.
    assert portal.get("/readyz").get_json()["database"] == "ok"
    assert location(portal.get("/", 302)) == PREFIX + "/cuenta/ingresar"
    sent_to = location(portal.get("/servicios/licenciamiento?q=SAE", 302))
    assert urlsplit(sent_to).path == PREFIX + "/cuenta/ingresar"
    # `next` is a path inside the portal, without the prefix (safe_next adds it back).
    assert parse_qs(urlsplit(sent_to).query)["next"] == ["/servicios/licenciamiento?q=SAE"]
    assert portal.get("/servicios/suscripciones", 401, headers=hx).headers["HX-Redirect"].startswith(
        PREFIX + "/cuenta/ingresar?next=")
    sign_in_page = portal.get("/cuenta/ingresar")
    asset = next(url for tag, attr, url in urls_in(sign_in_page.get_data(as_text=True)) if "/assets/portal." in url)
    assert portal.follow(asset).headers["Cache-Control"].startswith("public")
    assert location(portal.get("/cuenta/distribuidores", 301)) == PREFIX + "/cuenta/ingresar"
    for path in ("/cuenta/crear", "/cuenta/recuperar", "/cuenta/terminos", "/aviso-de-privacidad"):
        portal.get(path)
    assert portal.get("/favicon.ico").mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    assert f'<link rel="icon" href="{PREFIX}/favicon.ico"' in sign_in_page.get_data(as_text=True)
    portal.post("/cuenta/crear", 303, data=sign_up_data())
    portal.post("/cuenta/recuperar", 303, data={"email": user.email})

    # Sign-in: a mistake, then the way back to where the user was going.
    portal.post("/cuenta/ingresar", 422, data={"email": user.email, "password": "equivocada"})
    signed_in = portal.post("/cuenta/ingresar", 303, data={"email": user.email, "password": factories.PASSWORD,
                                                           "next": "/servicios/licenciamiento?q=SAE"})
    assert location(signed_in) == PREFIX + "/servicios/licenciamiento?q=SAE"
    if mode == "mount":
        assert f"Path={PREFIX}" in signed_in.headers["Set-Cookie"]
    else:
        assert "Secure" in signed_in.headers["Set-Cookie"]

    # Mis Servicios: each page, its grid fragment (with the pushed URL), the CSV export.
    for category in CATEGORIES:
        portal.get(f"/servicios/{category}")
        fragment = portal.get(f"/servicios/{category}?sort=-version&page=1", headers=hx)
        assert fragment.headers["HX-Push-Url"].startswith(f"{PREFIX}/servicios/{category}")
    export = portal.get("/servicios/suscripciones?formato=csv")
    assert export.mimetype == "text/csv" and serial in export.get_data(as_text=True)

    # Reenviar CDA: without JS back to the same grid page (the notice in it; `aviso` names the send,
    # so the address differs from the page's and every browser fetches it), with htmx the modal.
    resent = portal.post(f"/servicios/{serial}/reenviar-cda", 303, data={"next": "/servicios/suscripciones?q=SAE"})
    assert re.fullmatch(re.escape(PREFIX + "/servicios/suscripciones?q=SAE&aviso=") + r"\d+", location(resent))
    assert "ha sido enviado a tu cuenta de correo" in portal.follow(location(resent)).get_data(as_text=True)
    portal.post(f"/servicios/{systems['licenciamiento'].serial}/reenviar-cda", 200, headers=hx)
    portal.get(f"/servicios/{serial}/envios-cda")

    # Activar claves: capture, Solicitar Clave de Confirmación, Confirmar, the Aviso, the list.
    portal.get("/claves-prepago/activar")
    portal.get("/claves-prepago/licencia")
    portal.get("/claves-prepago/licencia", headers=hx)
    validated = portal.post("/claves-prepago/activar", 303, data={"keys": key_codes.grouped(keys[0].code)})
    assert location(validated) == f"{PREFIX}/claves-prepago/activar/confirmar"
    panel = portal.follow(location(validated))
    confirmed = portal.post("/claves-prepago/activar/confirmar", 303, data={
        "token": step_token(panel.get_data(as_text=True)), "destination": "distribuidor", "accept_license": "y"})
    assert location(confirmed) == f"{PREFIX}/claves-prepago/activar/aviso?claves={keys[0].id}"
    assert f'href="{PREFIX}/claves-prepago?resaltar={keys[0].id}"' in portal.follow(location(confirmed)).get_data(
        as_text=True)
    panel = portal.post("/claves-prepago/activar", 200, data={"keys": keys[1].code}, headers=hx)
    portal.post("/claves-prepago/activar/confirmar", 200, headers=hx, data={
        "token": step_token(panel.get_data(as_text=True)), "destination": "mi_negocio", "accept_license": "y"})
    portal.get("/claves-prepago")
    fragment = portal.get("/claves-prepago?estatus=disponible", headers=hx)
    assert fragment.headers["HX-Push-Url"].startswith(f"{PREFIX}/claves-prepago?")
    assert portal.get("/claves-prepago?formato=csv").mimetype == "text/csv"

    # Mi perfil: the name (no JS and htmx), a change of e-mail (its link is checked below), Actividad.
    portal.get("/perfil")
    assert location(portal.post("/perfil/datos", 303, data={"details-name": "Ana Prefijo", "details-phone": "5512345678"})) \
        == PREFIX + "/perfil"
    portal.post("/perfil/datos", 200, headers=hx, data={"details-name": "Ana Prefijo", "details-phone": "5512345678"})
    portal.post("/perfil/correo", 200, headers=hx, data={"email-new_email": "nuevo@empresa-prefijo.mx",
                                                         "email-current_password": factories.PASSWORD})
    portal.get("/perfil/actividad")

    # The desk selector goes back to the same page, in the other desk.
    switched = portal.post("/escritorio", 303, data={"desk_id": other.id, "next": "/claves-prepago/activar"})
    assert location(switched) == PREFIX + "/claves-prepago/activar"

    # A page that does not exist is a Spanish page whose links stay in the portal.
    missing = portal.get("/no-existe", 404)
    assert f'href="{PREFIX}/"' in missing.get_data(as_text=True)
    portal.get("/no-existe", 404, headers=hx)

    # The back-office API: its document names the prefixed server; a new user's e-mail links here.
    assert portal.get("/api/v1/openapi.json").get_json()["servers"] == [{"url": PREFIX + "/api/v1"}]
    bearer = {"Authorization": f"Bearer {token()}"}
    created = portal.open("PUT", f"/api/v1/desks/{factories.rfc()}", 201, headers=bearer, json={
        "razon_social": "Comercializadora del Bajío S.A. de C.V.", "kind": "cliente",
        "users": [{"email": "laura@bajio-prefijo.mx", "name": "Laura Méndez", "role": "owner"}]})
    assert created.get_json()["razon_social"].startswith("Comercializadora")

    signed_out = portal.post("/cuenta/salir", 303)
    assert location(signed_out) == PREFIX + "/cuenta/ingresar"
    again = portal.post("/cuenta/ingresar", 200, headers=hx, data={"email": user.email, "password": factories.PASSWORD})
    assert again.headers["HX-Redirect"] == PREFIX + "/"

    # The e-mails: verification, password reset, CDA, key confirmed, change of e-mail, welcome.
    kinds = {m.kind for m in db.session.scalars(select(OutboxMessage))}
    assert {"verify_email", "password_reset", "email_change_confirm", "desk_welcome"} <= kinds, kinds
    assert portal.check_mail() >= 4
    assert portal.seen > 300  # the walk saw the URLs of every page, not an empty answer
    assert portal.problems == []


def test_email_written_outside_a_request_uses_portal_url_with_its_prefix(app, tmp_path):
    """`flask portal import` has no request to take the host from: PORTAL_URL, prefix included."""
    app.config["PORTAL_URL"] = f"https://{PUBLIC_HOST}{PREFIX}"
    path = tmp_path / "desks.csv"
    path.write_text("rfc,razon_social,kind,user_email,user_name,user_phone,user_role\n"
                    f"{factories.rfc()},Papelería Prefijo S.A. de C.V.,cliente,pedro@prefijo.mx,Pedro Prefijo,,owner\n")
    result = app.test_cli_runner().invoke(args=["portal", "import", str(path)])
    assert result.exit_code == 0, result.output
    welcome = db.session.scalars(select(OutboxMessage)).one()
    assert f"https://{PUBLIC_HOST}{PREFIX}/cuenta/definir/" in welcome.body_text
    assert links_in_text(welcome.body_text) and all(
        url.startswith(f"https://{PUBLIC_HOST}{PREFIX}/") for url in links_in_text(welcome.body_text))


@pytest.mark.app_config(SCRIPT_NAME="/portal/", SESSION_COOKIE_PATH=PREFIX)
def test_script_name_serves_the_portal_under_it_and_a_spanish_404_outside(app, client, world):
    """SCRIPT_NAME applied by the portal (portal/prefix.py): what gunicorn passes whole, or already split."""
    assert client.get(PREFIX + "/cuenta/ingresar").status_code == 200
    assert client.get("/cuenta/ingresar", environ_overrides={"SCRIPT_NAME": PREFIX}).status_code == 200
    for path in ("/cuenta/ingresar", "/", "/portalx/cuenta/ingresar", "/api/v1/openapi.json"):
        outside = client.get(path)
        assert outside.status_code == 404, path
        page = outside.get_data(as_text=True)
        if path.startswith("/api/"):
            assert outside.get_json()["error"]["code"] == "not_found"
            continue
        assert "Página no encontrada" in page and "Iniciar sesión" not in page, path
        assert f'href="{PREFIX}/"' in page and outside.headers["X-Content-Type-Options"] == "nosniff", path
    assert client.post("/cuenta/ingresar", data={"email": world.a.user.email}).status_code == 404


@pytest.mark.parametrize("value", ["portal", "/portal?x=1", "/por tal"])
def test_a_script_name_that_is_not_a_path_stops_the_start(tmp_path, value):
    from portal import ConfigError, create_app

    with pytest.raises(ConfigError, match="SCRIPT_NAME"):
        create_app({"SCRIPT_NAME": value, "INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": "sqlite://"})
