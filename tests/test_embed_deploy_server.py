"""deploy/: gunicorn with deploy/gunicorn.conf.py under SCRIPT_NAME=/portal, asked as deploy/nginx-portal.conf asks."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from portal.config import SETTINGS
from tests import factories
from tests.embed_helpers import free_port, misplaced, urls_in

ROOT = Path(__file__).resolve().parent.parent
SNIPPET = ROOT / "deploy" / "nginx-portal.conf"
PUBLIC = "https://intranet.example.mx"
# What deploy/nginx-portal.conf sets, for a browser at 203.0.113.9 on the intranet's HTTPS port.
AS_NGINX_SENDS = {"Host": "intranet.example.mx", "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
                  "X-Forwarded-Host": "intranet.example.mx", "X-Forwarded-Port": "443",
                  "X-Request-ID": "4f1c0a9e8b7d6c5a4f1c0a9e8b7d6c5a"}  # nginx's $request_id: 32 hex digits


@pytest.fixture
def gunicorn(database_url, tmp_path):
    """The portal as deploy/nginx-portal.conf describes it: gunicorn, one worker, on a free loopback port."""
    port = free_port()
    env = {**os.environ, "PORTAL_ENV": "production", "SECRET_KEY": "clave-de-despliegue-de-prueba-" + "x" * 20,
           "DATABASE_URL": database_url, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1",
           "SCRIPT_NAME": "/portal", "PROXY_COUNT": "1", "TRUSTED_HOSTS": "intranet.example.mx",
           "PORTAL_URL": "https://intranet.example.mx/portal",
           "SESSION_COOKIE_SECURE": "1", "SESSION_COOKIE_PATH": "/portal", "FRAME_ANCESTORS": "'self'",
           "MAIL_DIR": str(tmp_path / "mail"), "RATELIMIT_STORAGE_URI": "memory://"}
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "app:app"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/portal/healthz", headers=AS_NGINX_SENDS, timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass  # not listening yet
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn no arrancó: " + process.stderr.read().decode()[-2000:])
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.multiprocess
def test_gunicorn_serves_pages_assets_and_a_sign_in_under_the_prefix(app, gunicorn, world):
    system = factories.service(world.a.desk, "suscripciones")

    def get(path, **headers):
        return requests.get(gunicorn + path, headers={**AS_NGINX_SENDS, **headers}, allow_redirects=False, timeout=30)

    sign_in = get("/portal/cuenta/ingresar", **{"Accept-Encoding": "gzip"})
    assert sign_in.status_code == 200 and sign_in.headers["Content-Encoding"] == "gzip"
    assert sign_in.headers["Strict-Transport-Security"] == "max-age=31536000"  # HTTPS, as the proxy said
    assert sign_in.headers["X-Request-ID"] == AS_NGINX_SENDS["X-Request-ID"]  # the proxy's ID, trusted
    html = sign_in.text
    elsewhere = {SETTINGS["STORE_URL"][0], SETTINGS["SUPPORT_URL"][0]}  # the store and the support site
    assert [misplaced(url, "/portal", PUBLIC, elsewhere) for _, _, url in urls_in(html)] == [None] * len(urls_in(html))
    css = re.search(r'href="(/portal/assets/portal\.[0-9a-f]{10}\.css)"', html).group(1)
    asset = get(css, **{"Accept-Encoding": "gzip"})
    assert asset.status_code == 200 and asset.headers["Content-Type"].startswith("text/css")
    assert "max-age=31536000" in asset.headers["Cache-Control"] and "immutable" in asset.headers["Cache-Control"]
    assert ".topbar" in asset.text

    # Signing in through the real form: CSRF (with the Referer check of HTTPS), the cookie on /portal.
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    session = sign_in.cookies.get("session") or re.search(r"session=([^;]+)", sign_in.headers["Set-Cookie"]).group(1)
    signed_in = requests.post(gunicorn + "/portal/cuenta/ingresar", allow_redirects=False, timeout=30, headers={
        **AS_NGINX_SENDS, "Cookie": f"session={session}", "Referer": f"{PUBLIC}/portal/cuenta/ingresar"},
        data={"csrf_token": token, "email": world.a.user.email, "password": factories.PASSWORD})
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/portal/"
    cookie = signed_in.headers["Set-Cookie"]
    assert "Path=/portal" in cookie and "Secure" in cookie and "HttpOnly" in cookie
    grid = get("/portal/servicios/suscripciones", Cookie=cookie.split(";")[0])
    assert grid.status_code == 200 and system.serial in grid.text
    assert f'action="/portal/servicios/{system.serial}/reenviar-cda"' in grid.text

    # Nothing is served outside the prefix: the portal's Spanish 404, whose links lead into it (not
    # gunicorn's English "Configuration problem" page); nor for a host the portal does not answer to.
    for path in ("/cuenta/ingresar", "/", "/favicon.ico", "/portalx/cuenta/ingresar"):
        outside = get(path)
        assert outside.status_code == 404, (path, outside.status_code, outside.text[:200])
        assert "Página no encontrada" in outside.text and "Iniciar sesión" not in outside.text, path
        assert "Configuration problem" not in outside.text and 'href="/portal/"' in outside.text, path
        assert outside.headers["Content-Security-Policy"].startswith("default-src 'self'"), path
        assert outside.headers["Strict-Transport-Security"] == "max-age=31536000", path  # behind the proxy too
    assert get("/portal").headers["Location"] == PUBLIC + "/portal/"
    # The prefix is the portal's setting: a client's own X-Forwarded-Prefix does not move its links.
    forged = get("/portal/cuenta/ingresar", **{"X-Forwarded-Prefix": "/otro"})
    assert forged.status_code == 200 and 'action="/portal/cuenta/ingresar"' in forged.text
    assert get("/portal/cuenta/ingresar", Host="otro.example.mx", **{"X-Forwarded-Host": "otro.example.mx"}
               ).status_code == 400


def test_the_nginx_snippet_sends_what_the_portal_trusts():
    """The snippet and the settings it names stay in step with the portal (and the test above)."""
    snippet = SNIPPET.read_text()
    sent = set(re.findall(r"^\s*proxy_set_header\s+([\w-]+)\s", snippet, re.M))
    assert sent == set(AS_NGINX_SENDS) | {"Connection"}
    # The path goes to gunicorn whole: the portal takes /portal off (a URI here would strip it twice).
    assert re.search(r"^\s*proxy_pass http://127\.0\.0\.1:8000;", snippet, re.M)
    assert not re.search(r"^\s*add_header\s+(X-Frame-Options|Content-Security-Policy)", snippet, re.M | re.I)
    for setting in ("SCRIPT_NAME=/portal", "PROXY_COUNT=1", "SESSION_COOKIE_PATH=/portal", "FRAME_ANCESTORS",
                    "TRUSTED_HOSTS", "PORTAL_URL=https://intranet.example.mx/portal", "deploy/gunicorn.conf.py"):
        assert setting in snippet, setting
    assert "deploy/nginx-portal.conf" in (ROOT / "README.md").read_text()
