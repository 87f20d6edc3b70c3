"""lynx, w3m and elinks (no JavaScript) through every flow a customer and a distributor have: sign
in, Reenviar CDA with its "Aspel notifica", a grid search, the whole key activation (Mi Negocio and
Distribuidor), sign out. Each browser is driven for real in a pseudo-terminal (tests/text_browsers.py)
against the live server; what the test reads is the screen a person would read."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import clock
from portal.extensions import db
from portal.models import OutboxMessage, PrepaidKey
from portal import key_codes
from tests import factories
from tests.embed_helpers import sqlite_only
from tests.text_browsers import BROWSERS, require

pytestmark = [pytest.mark.text_browser, sqlite_only]  # what a text browser reads is the same HTML whatever the database
ACTIVATE_MENU = "Activar claves de producto- Prepago"
AVISO = "Los servicios liberados por este medio serán válidos solo para este Escritorio."


@pytest.fixture(params=list(BROWSERS))
def text_browser(request, live_server, tmp_path):
    """open(path): the browser (lynx, w3m or elinks) showing `path` of the live server."""
    require(request.param)
    opened = []

    def _open(path):
        home = tmp_path / f"home-{request.param}"
        home.mkdir(exist_ok=True)
        browser = BROWSERS[request.param](home, live_server.url(path))
        opened.append(browser)
        return browser

    yield _open
    for browser in opened:
        browser.close()


def _key(key):
    db.session.commit()  # see what the server's requests committed
    return db.session.scalar(select(PrepaidKey).where(PrepaidKey.id == key.id).execution_options(populate_existing=True))


def _sign_in(browser, user):
    browser.wait_for("Iniciar sesión", "Correo electrónico", "Contraseña")
    browser.fill("Correo electrónico", user.email)
    browser.fill("Contraseña", factories.PASSWORD)
    browser.press("Iniciar sesión", after="Mantener la sesión iniciada")
    return browser.wait_for("Mis Servicios", "Cerrar sesión", "Sistemas en Suscripción")


def _sign_out(browser):
    browser.press("Cerrar sesión")
    browser.wait_for("Correo electrónico", "¿Olvidaste tu contraseña?", absent=("Mis Servicios",))


def _activate(browser, key, destination=None):
    browser.follow(ACTIVATE_MENU)
    browser.wait_for("Activar claves de producto prepago", "Validar")
    # Typed as people type it: lower case, spaces instead of dashes.
    browser.fill("Clave Prepago", key_codes.grouped(key.code).lower().replace("-", " "), area=True)
    browser.press("Validar")
    browser.wait_for("Solicitar Clave de Confirmación", "válida (incluye 50 Timbres)", "Acepto la Licencia de Uso.",
                     "Ver Licencia", "Activar otra Clave")
    if destination:
        browser.toggle(destination, after="Solicitar Clave de Confirmación")
    browser.toggle("Acepto la Licencia de Uso.")
    browser.press("Confirmar")
    browser.wait_for("Aviso", AVISO)
    browser.follow("Aceptar", after=AVISO)
    return browser.wait_for("Claves de prepago con:", key_codes.grouped(key.code), absent=(AVISO,))


def test_a_customer_and_a_distributor_go_through_every_flow(app, text_browser, world):
    customer, distributor = world.b, world.a
    noi = factories.service(customer.desk, "suscripciones", product_code="NOI", version="11.0")
    sae = factories.service(customer.desk, "suscripciones", product_code="SAE")
    own_key, stock_key = factories.prepaid_key(), factories.prepaid_key()

    browser = text_browser("/cuenta/ingresar")
    screen = _sign_in(browser, customer.user)
    assert noi.serial in screen and sae.serial in screen

    # Reenviar CDA: the mail is queued and, back on the list, "Aspel notifica" says so.
    browser.press("Reenviar CDA", after=noi.serial)
    browser.wait_for("Aspel notifica", f"El CDA del número de serie {noi.serial} ha sido enviado a tu cuenta de correo.",
                     "correos no deseados / spam", "Mi perfil > Datos generales")
    db.session.commit()
    assert [m.recipient for m in db.session.scalars(select(OutboxMessage))] == [customer.user.email]

    # A grid search, sent as the plain GET form it is.
    browser.fill("Buscar", "noi")
    browser.press("Aplicar")
    browser.wait_for(noi.serial, "(1 elemento)", absent=(sae.serial,))

    # Mi Negocio: the key is used by the desk's own company from today.
    screen = _activate(browser, own_key)
    assert _key(own_key).status == "utilizada" and _key(own_key).desk_id == customer.desk.id
    assert "Utilizada" in screen and customer.desk.razon_social in screen

    # Mi perfil: a new name is saved, and the page that follows says so and shows it in the top bar.
    browser.follow("Mi perfil")
    browser.wait_for("Mi perfil > Datos generales", "Guardar datos")
    browser.fill("Nombre", "Cliente Renombrado")
    browser.press("Guardar datos")
    screen = browser.wait_for("Tus datos generales se guardaron.", "Cliente Renombrado")
    db.session.commit()
    assert db.session.get(type(customer.user), customer.user.id).name == "Cliente Renombrado"
    _sign_out(browser)

    # Distribuidor: the key waits for a client, Disponible and "Sin asignar".
    _sign_in(browser, distributor.user)
    screen = _activate(browser, stock_key, destination="Distribuidor")
    key = _key(stock_key)
    assert (key.status, key.destination, key.desk_id) == ("disponible", "distribuidor", distributor.desk.id)
    assert "Disponible" in screen and "Sin asignar" in screen and "Inactiva" in screen
    _sign_out(browser)


def test_rows_per_page_and_todas_las_fechas_in_a_list(app, text_browser, world):
    """Every control of the grid stands inside its form: a text browser sends each one."""
    today = clock.today(app.config["TIMEZONE"])
    recent = [factories.prepaid_key(world.a.desk, confirmed_on=today - timedelta(days=n)) for n in range(12)]
    old = factories.prepaid_key(world.a.desk, confirmed_on=today - timedelta(days=400))
    browser = text_browser("/cuenta/ingresar")
    _sign_in(browser, world.a.user)
    browser.follow("Claves prepago")
    browser.wait_for("Claves de prepago con:", "Fecha de contratación desde", "Página 1 de 1 (12 elementos)",
                     key_codes.grouped(recent[-1].code), absent=(key_codes.grouped(old.code),))

    # "Todas las fechas", from the Filtro panel: the default period's dates still in the form.
    browser.toggle("Todas las fechas", after="Escribe la fecha como")
    browser.press("Aplicar")
    browser.wait_for("Claves de prepago con: todas las fechas", "Página 1 de 1 (13 elementos)",
                     key_codes.grouped(old.code))

    # "Filas por página" and its own button: the same list, ten rows at a time.
    browser.choose("Filas por página", "10")
    browser.press("Mostrar")
    browser.wait_for("Claves de prepago con: todas las fechas", "Página 1 de 2 (13 elementos)",
                     absent=(key_codes.grouped(old.code),))
    browser.follow("2", after="Filas por página")
    browser.wait_for("Página 2 de 2 (13 elementos)", key_codes.grouped(old.code))
