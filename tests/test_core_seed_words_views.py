"""Every word the two seeds (docs/seeds/) show a user, on the page where the seed shows it, to the
letter: labels, messages, columns, statuses, menu entries. Real HTTP through the test client,
signed in as the kind of user the seed's screen belongs to (a customer, a distributor)."""
import html
import re
from datetime import timedelta

import pytest

from portal import key_codes
from tests import factories
from tests.prepaid_helpers import confirm, step_token, validate

MENU = ["Mis Servicios", "Servidor virtual", "Suscripciones", "Licenciamiento", "Espacio", "Mis Pólizas",
        "Sellado CFDI", "Cursos", "Activar claves de producto- Prepago", "Claves prepago", "Comprar ahora"]
PRODUCTS = ["SAE", "COI", "NOI", "CAJA", "FACTURE", "BANCO", "PROD", "ADM"]

# docs/seeds/cda.txt: "¿Cómo obtener el Código de Activación de Aspel PROD?"
SIGN_IN = ["Mi cuenta Aspel", "Acceso a Distribuidores", "Iniciar sesión", "Crear cuenta"]
SUBSCRIPTIONS = MENU + PRODUCTS + [
    "Póliza:", "Mis servicios", "Sistemas en Suscripción", "Administrar tus sistemas de pago mensual.",
    "Arrastra una columna aquí para agrupar por ella", "Seguir comprando", 'placeholder="Buscar..."',
    "Sistema", "Versión", "Usuarios", "No. Serie", "Fecha Activación", "Próximo Pago", "Reenviar CDA",
    "Filtro", "Columnas",
]
LICENSING = ["Administra tus sistemas comprados electrónicamente.", "Sistema", "Versión", "Usuarios",
             "No. Serie", "Fecha Activación", "Reenviar CDA", "Certificado de Autenticidad"]
CDA_NOTICE = [
    "Aspel notifica", "El CDA del número de serie {serial} ha sido enviado a tu cuenta de correo.", "Aceptar",
    "La información será enviada a la cuenta de correo que diste de alta. Si deseas actualizarla dirígete a la "
    "sección de Mi perfil > Datos generales.",
    "Revisa en tu bandeja de entrada o en la sección de correos no deseados / spam.",
]
PROFILE = ["Mi perfil", "Datos generales"]

# docs/seeds/claves-prepago.txt: "Utiliza tu clave de prepago para adquirir servicios o productos"
ACTIVATE = MENU + ["Activar claves de producto prepago", "Clave Prepago"]
CONFIRMATION = ["Solicitar Clave de Confirmación", "Mi Negocio", "Distribuidor",
                "Clave {code} válida (incluye 50 Timbres)", "Acepto la Licencia de Uso.", "Ver Licencia",
                "Confirmar", "Activar otra Clave"]
NOTICE = ["Aviso", "Los servicios liberados por este medio serán válidos solo para este Escritorio.", "Aceptar"]
KEYS = MENU + [
    "Claves prepago", "Claves de prepago con:", "Fecha de contratación desde {desde} al {hasta}",
    "Arrastra una columna aquí para agrupar por ella", "Clave", "Cantidad", "Fecha", "F. Activación", "Estatus",
    "Cliente", "200 Timbres", "50 Timbres", "Inactiva", "Disponible", "Sin asignar", "Utilizada", "Empresa 1",
    "{hoy}", "Filtro", "Columnas", "Activar claves", "Comprar ahora",
    "La asignación de cliente se realiza al momento que tú cliente comienza hacer uso del servicio o producto.",
]


def _readable(response):
    """The page's words as a reader gets them: tags gone (words kept apart), entities decoded."""
    page = response.get_data(as_text=True)
    joined = html.unescape(re.sub(r"<[^>]+>", "", page))
    spaced = html.unescape(re.sub(r"<[^>]+>", " ", page))
    return page, " ".join(joined.split()), " ".join(spaced.split())


def assert_words(response, words, **values):
    assert response.status_code == 200, response.status_code
    page, joined, spaced = _readable(response)
    missing = [w.format(**values) for w in words
               if w.format(**values) not in joined and w.format(**values) not in spaced
               and w.format(**values) not in page]
    assert not missing, f"Faltan palabras de las semillas: {missing}"


@pytest.fixture
def customer(world):
    return world.b  # a cliente desk


@pytest.fixture
def distributor(world):
    return world.a  # a distribuidor desk


def test_sign_in_says_what_the_seed_says(client):
    assert_words(client.get("/cuenta/ingresar"), SIGN_IN)


def test_subscriptions_licensing_and_the_cda_notice(client, login, customer, hx):
    for code in PRODUCTS:
        factories.product(code)
    system = factories.service(customer.desk, "suscripciones", product_code="PROD", version="4.0", users=10)
    factories.service(customer.desk, "licenciamiento", product_code="PROD", version="4.0", users=1)
    factories.service(customer.desk, "licenciamiento", product_code="SAE", acquisition="fisica")
    login(customer.user)
    assert_words(client.get("/servicios/suscripciones"), SUBSCRIPTIONS)
    assert_words(client.get("/servicios/licenciamiento"), LICENSING)
    # The modal with htmx, and without JS the page the POST redirects to.
    notice = client.post(f"/servicios/{system.serial}/reenviar-cda", headers=hx)
    assert_words(notice, CDA_NOTICE, serial=system.serial)
    redirected = client.post(f"/servicios/{system.serial}/reenviar-cda",
                             data={"next": "/servicios/suscripciones"})
    assert_words(client.get(redirected.headers["Location"]), CDA_NOTICE, serial=system.serial)
    assert_words(client.get("/perfil"), PROFILE)


def test_the_activation_steps_of_figures_2_to_4(client, login, distributor):
    key = factories.prepaid_key()
    login(distributor.user)
    assert_words(client.get("/claves-prepago/activar"), ACTIVATE)
    step_two = validate(client, key_codes.grouped(key.code), follow=True)
    assert_words(step_two, CONFIRMATION, code=f'<strong class="key-code">{key_codes.grouped(key.code)}</strong>')
    done = confirm(client, step_token(step_two.get_data(as_text=True)), destination="distribuidor")
    assert done.status_code == 303
    assert_words(client.get(done.headers["Location"]), NOTICE)


def test_the_keys_list_of_figure_5(client, login, distributor):
    today = factories.today()
    empresa = factories.client(distributor.desk, razon_social="Empresa 1")
    factories.prepaid_key(distributor.desk, quantity=200, confirmed_on=today)
    factories.prepaid_key(distributor.desk, status="utilizada", quantity=50, client=empresa,
                          confirmed_on=today, activated_on=today)
    login(distributor.user)
    since = today - timedelta(days=60)
    assert_words(client.get(f"/claves-prepago?desde={since.isoformat()}&hasta={today.isoformat()}"), KEYS,
                 desde=f"{since:%d/%m/%Y}", hasta=f"{today:%d/%m/%Y}", hoy=f"{today:%d/%m/%Y}")
