"""A text browser (w3m -dump) reads the main pages in a sensible order: menu, page, grid, its actions."""
import os
import re
import shutil
import subprocess

import pytest
import requests

from portal import key_codes
from tests import factories
from tests.conftest import IN_CI
from tests.embed_helpers import sqlite_only

pytestmark = [pytest.mark.text_browser, sqlite_only]  # what w3m reads is the same HTML whatever the database
W3M = shutil.which("w3m") or "/usr/bin/w3m"
MENU = ["Mis Servicios", "Servidor virtual", "Suscripciones", "Licenciamiento", "Espacio", "Mis Pólizas",
        "Sellado CFDI", "Cursos", "Activar claves de producto- Prepago", "Claves prepago"]


@pytest.fixture
def w3m(live_server):
    """w3m(path, cookie=None): the page as text, as w3m shows it 100 columns wide."""
    if not os.path.exists(W3M):
        if IN_CI:
            pytest.fail(f"w3m no está instalado en {W3M}")
        pytest.skip(f"w3m no está instalado en {W3M}")

    def dump(path, cookie=None):
        headers = ["-header", f"Cookie: {cookie}"] if cookie else []
        result = subprocess.run([W3M, "-dump", "-cols", "100", "-O", "UTF-8", "-o", "accept_language=es-MX",
                                 *headers, live_server.url(path)], capture_output=True, timeout=30, check=True)
        return result.stdout.decode()

    return dump


def sign_in(live_server, user):
    """The session cookie of `user`, signed in through the real form (CSRF token included)."""
    session = requests.Session()
    page = session.get(live_server.url("/cuenta/ingresar"), timeout=30).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = session.post(live_server.url("/cuenta/ingresar"), allow_redirects=False, timeout=30,
                            data={"csrf_token": token, "email": user.email, "password": factories.PASSWORD})
    assert response.status_code == 303
    return f"session={session.cookies['session']}"


def test_w3m_reads_the_footer_and_the_privacy_notice_signed_out_and_in(app, live_server, w3m, world):
    for cookie in (None, sign_in(live_server, world.a.user)):
        sign_in_or_services = w3m("/", cookie)
        in_order(sign_in_or_services, "Escritorio de Servicios", "¿Necesitas ayuda? Escríbenos a soporte@aspel.com.mx",
                 "Aviso de privacidad · Términos y condiciones")
        notice = w3m("/aviso-de-privacidad", cookie)
        in_order(notice, "Aviso de privacidad", "Responsable de tus datos personales",
                 "Aspel es responsable del tratamiento", "soporte@aspel.com.mx", "Tus derechos", "derechos ARCO",
                 "¿Necesitas ayuda?")


def in_order(text, *expected):
    """Each expected piece appears, each after the one before; returns where each was found."""
    at, found = 0, []
    for piece in expected:
        where = text.find(piece, at)
        assert where >= 0, f"«{piece}» no aparece después de la posición {at} en:\n{text}"
        found.append(where)
        at = where + len(piece)
    return found


def line_with(text, piece):
    return next(line for line in text.splitlines() if piece in line)


def test_w3m_reads_sign_in_services_and_keys_in_order(app, live_server, w3m, world):
    system = factories.service(world.a.desk, "suscripciones", product_code="NOI", version="11.0")
    key = factories.prepaid_key(world.a.desk)

    sign_in_page = w3m("/cuenta/ingresar")
    in_order(sign_in_page, "Escritorio de Servicios", "Iniciar sesión", "Correo electrónico", "Contraseña",
             "Mantener la sesión iniciada", "Iniciar sesión", "Crear cuenta", "¿Olvidaste tu contraseña?")

    cookie = sign_in(live_server, world.a.user)
    services = w3m("/servicios/suscripciones", cookie)
    in_order(services, "Póliza:", "Mi perfil", "Cerrar sesión", *MENU, "Seguir comprando", "Comprar ahora",
             "Sistemas en Suscripción", "Agrupar por", "Filtro", "Aplicar", "Buscar", "Columnas", "Guardar columnas",
             "Sistema", "Versión", "Usuarios", "No. Serie", "Fecha Activación", "Próximo Pago", "Acciones",
             system.serial, "Página 1 de 1 (1 elemento)", "Exportar CSV")
    # The row reads as a row: the system, its serial, then its actions (the button's icon has its
    # words for readers without images; Envíos wraps under it, in the same column).
    lines = services.splitlines()
    row = next(n for n, line in enumerate(lines) if system.serial in line)
    assert lines[row].split() == ["NOI", "11.0", "5", system.serial, f"{system.activated_on:%d/%m/%Y}",
                                  f"{system.next_payment_on:%d/%m/%Y}", "Reenviar", "CDA"]
    assert lines[row + 1].strip() == "Envíos"
    assert lines[row + 1].index("Envíos") == lines[row].index("Reenviar")
    for label in MENU[1:]:
        assert line_with(services, label).strip().startswith("•"), label  # a list of links, one a line

    keys = w3m("/claves-prepago", cookie)  # the default period holds the key's contract date
    in_order(keys, *MENU, "Claves prepago", "Activar claves", "Comprar ahora",
             "Claves de prepago con: Fecha de contratación desde", "Buscar",
             "Clave", "Cantidad", "Fecha", "F. Activación", "Estatus", "Cliente",
             key_codes.grouped(key.code), "Página 1 de 1 (1 elemento)", "Exportar CSV",
             "La asignación de cliente se realiza")
    assert line_with(keys, key_codes.grouped(key.code)).split()[1:] == ["50", "Timbres", f"{key.confirmed_on:%d/%m/%Y}", "Inactiva",
                                                                     "Disponible", "Sin", "asignar"]

    activate = w3m("/claves-prepago/activar", cookie)
    in_order(activate, *MENU, "Activar claves de producto prepago", "Clave Prepago", "Puedes pegar varias claves",
             "Validar")
