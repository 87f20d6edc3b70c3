"""Security headers on every main page, frames (FRAME_ANCESTORS), cookies for frames, CSRF over HTTPS."""
import re
from pathlib import Path

import pytest

from portal import create_app
from portal.config import ConfigError
from portal.extensions import db
from portal.models import OutboxMessage
from tests import factories
from tests.embed_helpers import inline_code_in, urls_in

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = "https://intranet.example.mx"
HTTPS_PROXY = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "intranet.example.mx",
               "HTTP_X_FORWARDED_PREFIX": "/portal", "HTTP_X_FORWARDED_FOR": "10.20.30.40"}
MAIN_PAGES = ["/cuenta/ingresar", "/cuenta/crear", "/cuenta/recuperar", "/cuenta/terminos",
              "/servicios/suscripciones", "/servicios/licenciamiento", "/servicios/servidor-virtual",
              "/servicios/espacio", "/servicios/polizas", "/servicios/sellado-cfdi", "/servicios/cursos",
              "/claves-prepago", "/claves-prepago/activar", "/claves-prepago/licencia", "/perfil",
              "/perfil/actividad", "/no-existe"]


def directives(response):
    """The CSP as {directive: [sources]}."""
    policy = response.headers["Content-Security-Policy"]
    return {name: sources for name, *sources in (part.split() for part in policy.split(";") if part.strip())}


def test_main_pages_run_no_inline_code_and_send_the_security_headers(app, client, world, login):
    factories.service(world.a.desk, "suscripciones")
    factories.prepaid_key(world.a.desk)
    anonymous = [client.get(path) for path in MAIN_PAGES[:4]]
    login(world.a.user)
    pages = anonymous + [client.get(path) for path in MAIN_PAGES[4:]]
    assert [r.status_code for r in pages] == [200] * (len(MAIN_PAGES) - 1) + [404]
    assets = {url for r in pages for tag, attr, url in urls_in(r.get_data(as_text=True)) if "/assets/" in url}
    responses = pages + [client.get(url) for url in sorted(assets)]
    for response in responses:
        csp = directives(response)
        assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"], csp
        assert csp["default-src"] == ["'self'"] and csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
        assert csp["frame-ancestors"] == ["'self'"]
        assert not any("unsafe" in source for sources in csp.values() for source in sources)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP: HSTS would mean nothing
    for response in pages:
        html = response.get_data(as_text=True)
        assert inline_code_in(html) == [], response.request.path
        # Inside the intranet's frame the store (which will not be framed) opens in a window of its own.
        for link in re.findall(r'<a [^>]*href="https://tienda\.example/aspel"[^>]*>', html):
            assert 'target="_blank"' in link and 'rel="noopener"' in link, link
        assert response.headers["Cache-Control"] == "no-store, no-cache"
        # htmx may not evaluate code or run scripts it swaps in.
        config = re.search(r'<meta name="htmx-config" content=\'([^\']+)\'', html).group(1)
        assert '"allowEval":false' in config and '"allowScriptTags":false' in config
    scripts = sorted(url for url in assets if url.endswith(".js"))
    assert [re.sub(r"\.[0-9a-f]{10}\.js$", ".js", url) for url in scripts] == [
        "/assets/portal.js", "/assets/vendor/htmx-2.0.11.min.js"]


def test_no_template_has_inline_styles_scripts_or_handlers():
    """What the CSP blocks must not be written at all (e-mails are not pages: they keep their styles)."""
    found = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        if "mail" in path.relative_to(ROOT / "templates").parts:
            continue
        text = path.read_text()
        for pattern in (r"\sstyle\s*=", r"<script(?![^>]*\ssrc=)", r"<style", r"\son[a-z]+\s*=", r"\shx-on", r"javascript:",
                        r"\bjs:"):
            found += [f"{path.name}: {pattern}" for _ in re.finditer(pattern, text)]
    assert found == []


@pytest.mark.app_config(FRAME_ANCESTORS="'self' https://intranet.example.mx,https://portal.corp.mx")
def test_other_allowed_ancestors_drop_x_frame_options(client):
    response = client.get("/cuenta/ingresar")
    assert directives(response)["frame-ancestors"] == ["'self'", "https://intranet.example.mx", "https://portal.corp.mx"]
    # X-Frame-Options knows no list: sent, it would forbid the intranet what the CSP allows.
    assert "X-Frame-Options" not in response.headers


@pytest.mark.app_config(FRAME_ANCESTORS="'none'")
def test_no_ancestor_at_all_is_deny(client):
    response = client.get("/cuenta/ingresar")
    assert directives(response)["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("settings, message", [
    ({"FRAME_ANCESTORS": "'self'; script-src *"}, "FRAME_ANCESTORS"),
    ({"SESSION_COOKIE_SAMESITE": "None"}, "SESSION_COOKIE_SECURE=1"),
    ({"SESSION_COOKIE_SAMESITE": "Relaxed"}, "Lax, Strict o None"),
])
def test_settings_that_would_break_frames_stop_the_start(tmp_path, settings, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x", **settings})


@pytest.mark.app_config(SESSION_COOKIE_SAMESITE="none", SESSION_COOKIE_SECURE=True, SESSION_COOKIE_PATH="/portal")
def test_cookies_for_a_cross_site_frame(client, world):
    """Framed by another site, the browser sends the session only if it is SameSite=None; Secure."""
    response = client.post("/cuenta/ingresar", data={"email": world.a.user.email, "password": factories.PASSWORD,
                                                      "remember": "y"}, base_url="https://localhost")
    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) == 2  # the session and Mantener la sesión iniciada
    for cookie in cookies:
        assert "SameSite=None" in cookie and "Secure" in cookie and "HttpOnly" in cookie and "Path=/portal" in cookie


@pytest.mark.app_config(PROXY_COUNT=1, SESSION_COOKIE_SECURE=True)
def test_https_behind_the_proxy_adds_hsts(client):
    client.environ_base.update(HTTPS_PROXY)
    assert client.get("/cuenta/ingresar").headers["Strict-Transport-Security"] == "max-age=31536000"


@pytest.mark.app_config(WTF_CSRF_ENABLED=True, PROXY_COUNT=1, SESSION_COOKIE_SECURE=True,
                        FRAME_ANCESTORS="'self' https://www.corp-intranet.mx")
def test_csrf_over_https_inside_a_frame_checks_the_referer_against_the_portal(client, world, hx):
    """Inside the intranet's frame the forms are the portal's own page: their Referer is the portal.

    Flask-WTF (WTF_CSRF_SSL_STRICT) compares it with the public host ProxyFix restored, so a framed
    form passes; a POST with no Referer, or one from the framing page's origin, does not.
    """
    system = factories.service(world.a.desk, "suscripciones")
    client.environ_base.update(HTTPS_PROXY)
    page = client.get("/cuenta/ingresar").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    form = {"csrf_token": token, "email": world.a.user.email, "password": factories.PASSWORD}
    portal_page = f"{PUBLIC}/portal/cuenta/ingresar"

    for referer in (None, "https://www.corp-intranet.mx/inicio", "http://intranet.example.mx/portal/cuenta/ingresar"):
        refused = client.post("/cuenta/ingresar", data=form, headers={"Referer": referer} if referer else {})
        assert refused.status_code == 400, referer
        assert "La sesión del formulario expiró o no es válida." in refused.get_data(as_text=True)
    signed_in = client.post("/cuenta/ingresar", data=form, headers={"Referer": portal_page})
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/portal/"

    # htmx inside the frame: the token in the header, the Referer the grid page.
    grid = client.get("/servicios/suscripciones").get_data(as_text=True)
    header_token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', grid).group(1)
    resent = client.post(f"/servicios/{system.serial}/reenviar-cda", headers={
        **hx, "X-CSRFToken": header_token, "Referer": f"{PUBLIC}/portal/servicios/suscripciones"})
    assert resent.status_code == 200 and "ha sido enviado a tu cuenta de correo" in resent.get_data(as_text=True)
    assert db.session.query(OutboxMessage).filter_by(kind="cda").count() == 1
