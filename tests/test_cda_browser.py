"""Reenviar CDA in Chromium, JS on and off: the same "Aspel notifica" notice, the same e-mail queued.

With JS the notice is a modal that gives focus back; without, the POST redirects to the same grid
page (its address naming the send) with the notice open in it.
"""
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, OutboxMessage
from tests import factories
from tests.conftest import browser_sign_in

pytestmark = pytest.mark.browser


def _outcome():
    """What the database holds afterwards: the queued e-mails and the audit records of the resend."""
    db.session.rollback()  # see the live server's commits
    return ([(m.kind, m.recipient) for m in db.session.query(OutboxMessage)],
            [e.event for e in db.session.query(AuditEvent).filter(AuditEvent.event.like("cda%"))])


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_reenviar_cda_shows_the_notice_and_queues_the_email(app, live_server, browser_page, world, js):
    system = factories.service(world.a.desk, "licenciamiento", product_code="SAE")
    physical = factories.service(world.a.desk, "licenciamiento", product_code="COI", acquisition="fisica")
    page = browser_page(js=js)
    browser_sign_in(page, live_server, world.a.user)
    grid = live_server.url("/servicios/licenciamiento?per_page=50")
    page.goto(grid)
    assert page.get_by_text("Consulta el CDA en tu Certificado de Autenticidad").is_visible()
    assert page.get_by_role("button", name=f"Reenviar CDA del número de serie {physical.serial}").count() == 0

    button = page.get_by_role("button", name=f"Reenviar CDA del número de serie {system.serial}")
    button.click()
    dialog = page.get_by_role("dialog", name="Aspel notifica")
    expect(dialog).to_contain_text(f"El CDA del número de serie {system.serial} ha sido enviado a tu cuenta de correo.")
    expect(dialog.get_by_role("link", name="Mi perfil > Datos generales")).to_be_visible()
    # The same page, filters kept; without JS at an address naming the send (a browser that does
    # not fetch a redirect to the page it shows, elinks, would not show the notice otherwise).
    if js:
        assert page.url == grid
    else:
        db.session.rollback()  # see the live server's commit
        sent = db.session.scalars(select(OutboxMessage.id)).one()
        assert page.url == f"{grid}&aviso={sent}"
    assert dialog.evaluate("d => d.matches(':modal')") is js  # without JS: open in the page
    if js:
        assert page.evaluate("document.activeElement.textContent") == "Aceptar"
    dialog.get_by_role("button", name="Aceptar").click()  # without JS a native <form method="dialog">
    expect(dialog).to_be_hidden()
    assert _outcome() == ([("cda", world.a.user.email)], ["cda_resent"])

    if js:
        # Focus goes back to the row's button; Escape closes the modal too.
        expect(button).to_be_focused()
        button.click()
        expect(dialog).to_be_visible()
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
        expect(button).to_be_focused()


def test_a_grid_request_at_the_same_moment_does_not_cancel_a_resend(app, live_server, browser_page, world):
    """The resend has its own request queue: the grid's (a filter changed the same instant) must not
    abort it after the server sent the e-mail, leaving the user without the notice."""
    system = factories.service(world.a.desk, "licenciamiento", product_code="SAE")
    page = browser_page(js=True)
    browser_sign_in(page, live_server, world.a.user)
    page.goto(live_server.url("/servicios/licenciamiento"))
    # Both requests leave in the same tick: the resend first, then the toolbar's.
    page.evaluate("""serial => {
        document.getElementById('cda-btn-' + serial).click();
        htmx.trigger(document.querySelector('form.grid-toolbar-form'), 'submit');
    }""", system.serial)
    dialog = page.get_by_role("dialog", name="Aspel notifica")
    expect(dialog).to_contain_text(f"El CDA del número de serie {system.serial} ha sido enviado a tu cuenta de correo.")
    expect(page.locator("table")).to_contain_text(system.serial)
    assert _outcome() == ([("cda", world.a.user.email)], ["cda_resent"])
