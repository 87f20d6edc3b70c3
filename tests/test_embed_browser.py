"""In Chromium: the portal framed by an intranet page from another origin, page weight, 320 px screens."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import OutboxMessage
from tests import factories
from tests.conftest import browser_sign_in
from tests.embed_helpers import free_port, sqlite_only

pytestmark = pytest.mark.browser

# The intranet: another origin on loopback (another port is another origin, the same site).
INTRANET_PORT = free_port()
INTRANET = f"http://127.0.0.1:{INTRANET_PORT}"
ELSEWHERE = f"http://127.0.0.1:{free_port()}"  # an origin the portal lets frame it, never the intranet here


class _IntranetPage(BaseHTTPRequestHandler):
    """The intranet's home page: a heading and the portal in a frame (`?src=` the portal URL)."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        src = parse_qs(urlsplit(self.path).query).get("src", [""])[0]
        body = (f'<!doctype html><html lang="es-MX"><title>Intranet Corporativa</title><h1>Intranet Corporativa</h1>'
                f'<iframe id="portal" title="Escritorio de Servicios" src="{src}" width="1000" height="700"></iframe>'
                ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def intranet():
    server = ThreadingHTTPServer(("127.0.0.1", INTRANET_PORT), _IntranetPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield lambda portal_url: f"{INTRANET}/?src={portal_url}"
    server.shutdown()


@sqlite_only
@pytest.mark.app_config(FRAME_ANCESTORS=f"'self' {INTRANET}")
def test_an_allowed_intranet_frames_the_portal_and_signs_in_and_resends_a_cda(app, live_server, browser_page,
                                                                             world, intranet):
    system = factories.service(world.a.desk, "suscripciones")
    page = browser_page(js=True, viewport={"width": 1100, "height": 800})
    page.goto(intranet(live_server.url("/cuenta/ingresar")))
    expect(page.get_by_role("heading", name="Intranet Corporativa")).to_be_visible()
    frame = page.frame_locator("#portal")
    expect(frame.get_by_role("heading", name="Iniciar sesión")).to_be_visible()

    # Sign-in inside the frame: the session cookie and the CSRF token work there.
    frame.get_by_label("Correo electrónico").fill(world.a.user.email)
    frame.get_by_label("Contraseña").fill(factories.PASSWORD)
    frame.get_by_role("button", name="Iniciar sesión").click()
    expect(frame.get_by_role("heading", name="Sistemas en Suscripción")).to_be_visible()
    assert page.url.startswith(INTRANET)  # the intranet page stays around the portal

    frame.get_by_role("button", name=f"Reenviar CDA del número de serie {system.serial}").click()
    notice = frame.get_by_role("dialog", name="Aspel notifica")
    expect(notice).to_contain_text(f"El CDA del número de serie {system.serial} ha sido enviado a tu cuenta de correo.")
    db.session.rollback()  # see the live server's commit
    assert db.session.query(OutboxMessage).filter_by(kind="cda", recipient=world.a.user.email).count() == 1
    notice.get_by_role("button", name="Aceptar").click()
    expect(notice).to_have_count(0)


@sqlite_only
@pytest.mark.app_config(FRAME_ANCESTORS=f"'self' {ELSEWHERE}")
def test_an_intranet_not_in_the_list_gets_an_empty_frame(app, live_server, browser_page, intranet):
    page = browser_page(js=True)
    refusals = []
    page.on("console", lambda message: refusals.append(message.text) if "frame-ancestors" in message.text else None)
    page.goto(intranet(live_server.url("/cuenta/ingresar")))
    expect(page.get_by_role("heading", name="Intranet Corporativa")).to_be_visible()
    frame = page.frame(url=lambda url: not url.startswith(INTRANET)) or page.main_frame.child_frames[0]
    frame.wait_for_load_state()
    assert not frame.url.startswith(live_server.url())  # Chromium put its error page in its place
    assert "Iniciar sesión" not in frame.content()
    assert refusals and all(INTRANET in text or "violates" in text for text in refusals), refusals


# --- page weight -------------------------------------------------------------------------------

KB = 1024


def _transfers(page):
    """Collect (resource type, URL, bytes on the wire: headers + body as served, encoded) of each request."""
    seen = []

    def finished(request):
        sizes = request.sizes()
        response = request.response()
        seen.append((request.resource_type, request.url, sizes["responseHeadersSize"] + sizes["responseBodySize"],
                     response.headers.get("content-encoding", "")))

    page.on("requestfinished", finished)
    return seen


@sqlite_only
def test_first_load_of_suscripciones_and_a_grid_fragment_stay_within_budget(app, live_server, browser_page, world):
    """≤ 40 KB for the cold first page (HTML + CSS + JS, compressed as served), ≤ 8 KB for a grid fragment."""
    for n in range(60):
        factories.service(world.a.desk, product_code=("SAE", "COI", "NOI", "BANCO")[n % 4], serial=f"PESO-{n:03d}")
    signed_in = browser_page(js=True)
    browser_sign_in(signed_in, live_server, world.a.user)
    page = browser_page(js=True)  # a cold cache: nothing kept from the sign-in page
    page.context.add_cookies(signed_in.context.cookies())
    seen = _transfers(page)
    page.goto(live_server.url("/servicios/suscripciones"))
    expect(page.locator("#grid-servicios-suscripciones .grid-info")).to_have_text("Página 1 de 3 (60 elementos)")
    page.wait_for_load_state("networkidle")
    first = [s for s in seen if s[0] in ("document", "stylesheet", "script")]
    assert sorted(kind for kind, *_ in first) == ["document", "script", "script", "stylesheet"], first
    # Pages are gzipped; files are streamed from disk, so compressed as a stream (deflate).
    assert all(encoding in ("gzip", "deflate") for *_, encoding in first), first
    assert sum(size for _, _, size, _ in first) <= 40 * KB, first

    with page.expect_request_finished(lambda request: request.resource_type in ("fetch", "xhr")) as finished:
        page.get_by_role("link", name="Página siguiente").click()
    expect(page.locator("#grid-servicios-suscripciones .grid-info")).to_have_text("Página 2 de 3 (60 elementos)")
    sizes = finished.value.sizes()
    assert finished.value.response().headers["content-encoding"] == "gzip"
    assert sizes["responseHeadersSize"] + sizes["responseBodySize"] <= 8 * KB, sizes
