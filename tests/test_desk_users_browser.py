"""The invitation in Chromium, with JavaScript and without: an owner invites from Mi escritorio >
Usuarios, the invitee opens the link of the real e-mail, creates the account and is in the desk
with the role chosen; at 320 px the page needs no sideways scrolling of the page itself."""
import re

import pytest
from playwright.sync_api import expect

from tests.conftest import body_of, browser_sign_in
from tests.desk_users_helpers import staff
from tests.embed_helpers import sqlite_only

pytestmark = [pytest.mark.browser, sqlite_only]  # the same HTML whatever the database


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_an_owner_invites_and_the_invitee_joins_from_the_mail(live_server, browser_page, deliver, js):
    s = staff()
    page = browser_page(js=js, viewport={"width": 320, "height": 800})
    browser_sign_in(page, live_server, s.owner)
    page.goto(live_server.url("/escritorio/usuarios"))
    expect(page.get_by_role("heading", name="Usuarios del escritorio")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320 + 1
    page.evaluate("window.notReloaded = true") if js else None
    form = page.locator("#invite-form")
    form.get_by_label("Correo electrónico").fill("colega.nueva@empresa.mx")
    form.get_by_label("Rol").select_option("viewer")
    form.get_by_role("button", name="Enviar invitación").click()
    expect(page.locator("#invitations")).to_contain_text("colega.nueva@empresa.mx")
    expect(page.locator("main")).to_contain_text("Enviamos la invitación a colega.nueva@empresa.mx como Consulta")
    if js:
        assert page.evaluate("window.notReloaded === true")  # swapped in place, not a new page
    assert page.evaluate("document.documentElement.scrollWidth") <= 320 + 1  # its list scrolls in its own box

    [mail] = [m for m in deliver() if m["to"] == ["colega.nueva@empresa.mx"]]
    link = re.search(r"https?://\S+/escritorio/invitacion/\S+", body_of(mail["message"])).group(0)
    invitee = browser_page(js=js, viewport={"width": 320, "height": 800})
    invitee.goto(link)
    expect(invitee.get_by_text("con el rol Consulta")).to_be_visible()
    invitee.get_by_label("Nombre").fill("Colega Nueva")
    invitee.get_by_label("Contraseña", exact=True).fill("una-clave-larga-7")
    invitee.get_by_label("Confirma la contraseña").fill("una-clave-larga-7")
    invitee.get_by_label("Acepto los").check()
    invitee.get_by_role("button", name="Crear mi cuenta y unirme").click()
    expect(invitee.get_by_text("Tu cuenta quedó creada")).to_be_visible()
    expect(invitee.locator("#my-role")).to_have_text("Consulta")
    expect(invitee.get_by_role("button", name="Enviar invitación")).to_have_count(0)

    page.goto(live_server.url("/escritorio/usuarios"))
    expect(page.locator("#grid-usuarios")).to_contain_text("Colega Nueva")
    expect(page.locator("#no-invitations")).to_be_visible()
