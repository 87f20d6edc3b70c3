"""The demo user signs in in Chromium (after a wrong password) and sees the menu and the desk selector, JS on and off."""
import pytest
from playwright.sync_api import expect

from tests import factories
from tests.conftest import browser_sign_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_demo_user_signs_in_and_sees_menu_and_desk_selector(app, live_server, browser_page, js):
    from portal.demo import load_demo
    from portal.models import User
    from portal.extensions import db

    load_demo(factories.today())
    page = browser_page(js=js)
    jorge = db.session.query(User).filter_by(email="distribuidor@demo.mx").one()
    # A wrong password first: the same message next to the form, the e-mail kept.
    page.goto(live_server.url("/cuenta/ingresar"))
    page.get_by_label("Correo electrónico").fill(jorge.email)
    page.get_by_label("Contraseña").fill("no-es-la-clave")
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("alert")).to_have_text("Correo o contraseña incorrectos.")
    expect(page.get_by_label("Correo electrónico")).to_have_value(jorge.email)
    browser_sign_in(page, live_server, jorge, password="demo12345")
    menu = page.get_by_role("navigation", name="Mis Servicios")
    for label in ("Servidor virtual", "Suscripciones", "Licenciamiento", "Espacio", "Mis Pólizas",
                  "Sellado CFDI", "Cursos", "Activar claves de producto- Prepago", "Claves prepago"):
        assert menu.get_by_role("link", name=label, exact=True).is_visible()
    picker = page.locator("#desk-picker summary")
    assert picker.inner_text().startswith("Póliza: Sistemas Integrales del")
    picker.click()
    page.get_by_role("button", name="Papelería La Estrella").click()
    page.wait_for_load_state()
    assert page.locator("#desk-picker summary").inner_text().startswith("Póliza: Papelería La Estrella")


def _hue_and_contrast(rgb_text, on="rgb(255, 255, 255)"):
    """The hue (degrees) of a CSS rgb() colour and its contrast ratio with `on`."""
    import colorsys
    import re

    def channels(text):
        return [int(v) for v in re.findall(r"\d+", text)[:3]]

    def luminance(rgb):
        linear = [(c / 255 / 12.92) if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    rgb, other = channels(rgb_text), channels(on)
    hue = colorsys.rgb_to_hls(*(c / 255 for c in rgb))[0] * 360
    light, dark = sorted((luminance(rgb), luminance(other)), reverse=True)
    return hue, (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_footer_privacy_notice_favicon_badge_and_fieldset_as_a_customer_sees_them(app, live_server, browser_page,
                                                                                 world):
    """What a customer notices: no console error from the Permissions-Policy on any page, the footer
    with the support contact and the privacy notice (signed out and in, at 320 px, not on paper), the
    favicon, an informative (not red) "Nueva" badge, the Notificaciones fieldset without the browser's border."""

    from axe_playwright_python.sync_playwright import Axe

    from tests import factories

    key = factories.prepaid_key(world.a.desk, confirmed_on=factories.today())
    page = browser_page(js=True, viewport={"width": 1100, "height": 800})
    console = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    footer = page.locator("footer.site-footer")

    def privacy_notice_fits_320_px_and_passes_axe():
        page.get_by_role("link", name="Aviso de privacidad").click()
        expect(page.get_by_role("heading", name="Aviso de privacidad", level=1)).to_be_visible()
        page.set_viewport_size({"width": 320, "height": 640})
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        expect(footer.get_by_role("link", name="soporte@aspel.com.mx")).to_be_visible()
        violations = [v["id"] for v in Axe().run(page).response["violations"] if v["impact"] in ("serious", "critical")]
        assert violations == []
        page.set_viewport_size({"width": 1100, "height": 800})

    page.goto(live_server.url("/cuenta/ingresar"))
    expect(footer).to_contain_text("¿Necesitas ayuda? Escríbenos a soporte@aspel.com.mx")
    icon = page.evaluate("[...document.querySelectorAll('link[rel=icon]')].map(l => l.href)")
    assert [page.request.get(url).status for url in icon] == [200, 200]
    privacy_notice_fits_320_px_and_passes_axe()
    page.emulate_media(media="print")
    expect(footer).to_be_hidden()
    page.emulate_media(media="screen")

    browser_sign_in(page, live_server, world.a.user)
    expect(footer).to_be_visible()
    privacy_notice_fits_320_px_and_passes_axe()

    page.goto(live_server.url(f"/claves-prepago?resaltar={key.id}"))
    badge = page.locator(".badge-new")
    expect(badge).to_have_text("Nueva")
    hue, contrast = _hue_and_contrast(badge.evaluate("el => getComputedStyle(el).backgroundColor"),
                                      badge.evaluate("el => getComputedStyle(el).color"))
    assert 30 < hue < 330, f"«Nueva» en un tono rojo ({hue:.0f}°): se lee como un error"
    assert contrast >= 4.5

    page.goto(live_server.url("/perfil/notificaciones"))
    fieldset = page.locator("#profile-notifications fieldset")
    assert fieldset.evaluate("el => getComputedStyle(el).borderTopStyle") == "none"
    assert fieldset.evaluate("el => getComputedStyle(el).paddingLeft") == "0px"

    assert [line for line in console if "Permissions-Policy" in line] == []
