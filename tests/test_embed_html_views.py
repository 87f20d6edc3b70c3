"""Valid HTML on every page: the portal's links are crawled from its start pages, as a signed-out visitor, a
customer and a distributor see them (the demo data), and each page is parsed by html5lib in strict mode
(the WHATWG parsing rules every browser follows; what they repair, a text browser may not). Each page
also has unique ids, "Seguir comprando" at most once and its stamp quantities written one way ("50 Timbres").
"""
import re
from collections import Counter, deque
from urllib.parse import parse_qsl, urlsplit

import html5lib
import pytest
from html5lib.html5parser import ParseError

from portal.extensions import db
from portal.demo import CUSTOMER
from portal.models import Desk, Service
from tests import factories
from tests.embed_helpers import urls_in
from tests.prepaid_helpers import step_token

# Links the crawl follows: pages. Leaving (sign-out is a POST anyway) and files are not pages.
SKIP = re.compile(r"^/(cuenta/salir|assets/|favicon\.ico|api/)|[?&]formato=csv")
FOLLOWED = {"href", "hx-get"}
PAGES_PER_SHAPE = 2  # a path with the same query parameters is the same page with other values
MAX_PAGES = 250
STAMPS_IN_LOWER_CASE = re.compile(r"\b\d[\d,.]*\s+timbres\b")


def shape(url):
    """The kind of page a link leads to: its path with any number-bearing segment (a serial) as "*",
    and the names of its query parameters."""
    parts = urlsplit(url)
    path = "/".join("*" if re.search(r"\d", segment) else segment for segment in parts.path.split("/"))
    return path, tuple(sorted({name for name, _ in parse_qsl(parts.query, keep_blank_values=True)}))


def local(url):
    """The path and query of a link into the portal, or None for another origin, a fragment, mailto…"""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return url[len("http://localhost"):] if url.startswith("http://localhost/") else None
    if not url.startswith("/") or url.startswith("//"):
        return None
    return url.split("#", 1)[0]


def problems_of(url, response):
    """What is wrong with one page: its parse errors, repeated ids, the small inconsistencies."""
    page = response.get_data(as_text=True)
    found = []
    try:
        html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(page)
    except ParseError:
        parser = html5lib.HTMLParser(namespaceHTMLElements=False)
        parser.parse(page)
        lines = page.splitlines()
        for (line, column), code, data in parser.errors[:5]:
            found.append(f"{url}:{line}:{column} {code} {data}: {lines[line - 1].strip()[:160]!r}")
    tree = html5lib.parse(page, namespaceHTMLElements=False)
    repeated = [i for i, n in Counter(e.get("id") for e in tree.iter() if e.get("id")).items() if n > 1]
    if repeated:
        found.append(f"{url}: ids repetidos {repeated}")
    text = " ".join("".join(tree.itertext()).split())
    if text.count("Seguir comprando") > 1:
        found.append(f"{url}: «Seguir comprando» {text.count('Seguir comprando')} veces")
    found += [f"{url}: «{m}» (se escribe «Timbres»)" for m in STAMPS_IN_LOWER_CASE.findall(text)]
    return found


def crawl(client, starts):
    """Every page reachable by GET from `starts` through the portal's own links, bounded per shape."""
    queue, seen, shapes, visited, found = deque(starts), set(starts), Counter(), [], []
    while queue and len(visited) < MAX_PAGES:
        url = queue.popleft()
        response = client.get(url)
        if response.status_code in (301, 302, 303):
            target = local(response.headers["Location"])
            if target and target not in seen and not SKIP.search(target):
                seen.add(target)
                queue.append(target)
            continue
        if response.mimetype != "text/html":
            continue
        visited.append(url)
        found += problems_of(url, response)
        for _tag, attribute, value in urls_in(response.get_data(as_text=True)):
            target = local(value) if attribute in FOLLOWED else None
            if not target or target in seen or SKIP.search(target) or shapes[shape(target)] >= PAGES_PER_SHAPE:
                continue
            seen.add(target)
            shapes[shape(target)] += 1
            queue.append(target)
    return visited, found


@pytest.fixture
def demo(app):
    from portal.demo import load_demo

    return load_demo(factories.today())


def sign_in(client, email):
    response = client.post("/cuenta/ingresar", data={"email": email, "password": "demo12345"})
    assert response.status_code == 303, response.get_data(as_text=True)[:300]


def test_every_page_a_visitor_a_customer_and_a_distributor_reach_is_valid_html(app, client, demo):
    visited, found = crawl(client, ["/", "/cuenta/ingresar", "/no-existe"])
    # Forms answered with their mistakes are pages too.
    found += problems_of("crear (errores)", client.post("/cuenta/crear", data={"email": "no-es-correo"}))
    found += problems_of("ingresar (error)", client.post("/cuenta/ingresar", data={"email": "x@demo.mx"}))
    assert {"/cuenta/ingresar", "/cuenta/crear", "/cuenta/recuperar", "/cuenta/terminos",
            "/aviso-de-privacidad", "/no-existe"} <= set(visited)

    sign_in(client, "cliente@demo.mx")
    customer, customer_found = crawl(client, ["/", "/perfil/notificaciones", "/claves-prepago/licencia", "/no-existe"])
    found += customer_found
    found += problems_of("notificaciones (error)", client.post("/perfil/notificaciones", data={
        "low_stamps": "y", "threshold": "muchos"}))
    # Full pages with a modal or a step: a CDA sent without JS, the activation of a demo key.
    serial = db.session.scalars(db.select(Service.serial).join(Desk).where(
        Desk.rfc == CUSTOMER[1], Service.category == "suscripciones")).first()
    sent = client.post(f"/servicios/{serial}/reenviar-cda", data={"next": "/servicios/suscripciones"})
    found += problems_of("reenviar-cda", client.get(sent.headers["Location"]))
    panel = client.post("/claves-prepago/activar", data={"keys": demo.fresh_keys[0]}, follow_redirects=True)
    found += problems_of("activar (validar)", panel)
    notice = client.post("/claves-prepago/activar/confirmar", follow_redirects=True, data={
        "token": step_token(panel.get_data(as_text=True)), "destination": "mi_negocio", "accept_license": "y"})
    assert "Los servicios liberados por este medio" in notice.get_data(as_text=True)
    found += problems_of("activar (aviso)", notice)
    client.post("/cuenta/salir")

    sign_in(client, "distribuidor@demo.mx")
    distributor, distributor_found = crawl(client, ["/", "/claves-prepago/licencia", "/no-existe"])
    found += distributor_found

    for pages in (customer, distributor):
        assert {"/servicios/suscripciones", "/servicios/sellado-cfdi", "/claves-prepago", "/claves-prepago/activar",
                "/claves-prepago/licencia", "/perfil", "/perfil/actividad", "/aviso-de-privacidad"} <= set(pages)
        assert any("formato=imprimir" in url for url in pages) and any("page=2" in url for url in pages)
    assert len(visited) + len(customer) + len(distributor) > 100
    assert found == []
