"""One rule for an e-mail address at every door it comes in by: Crear cuenta, Iniciar sesión, Datos
generales, the back office's API and its CSV import. Each refuses the same addresses with the same
Spanish reason and accepts the same ones, so an address the back office accepts can sign in."""
import re

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import User
from tests import factories
from tests.accounts_helpers import sign_up_data
from tests.api_support import ApiClient, token

ACCENTS = "El correo no admite acentos, ñ ni letras de otros alfabetos."
MALFORMED = "Captura un correo electrónico válido."
BAD = [
    ("acento", "josé@bajio.mx", ACCENTS),
    ("cirilica", "\u0430na@bajio.mx", ACCENTS),  # a Cyrillic а that looks like a Latin a
    ("dominio-con-acento", "ana@bajío.mx", ACCENTS),
    ("dos-arrobas", "ana@@bajio.mx", MALFORMED),
    ("dominio-sin-punto", "ana@bajio", MALFORMED),
    ("espacio", "ana lopez@bajio.mx", MALFORMED),
    ("dos-puntos-seguidos", "ana..lopez@bajio.mx", MALFORMED),
    ("salto-de-linea", "ana@bajio.mx\nBcc: otro@bajio.mx", MALFORMED),
    ("demasiado-largo", "a" * 250 + "@bajio.mx", "El correo es demasiado largo."),
]
GOOD = ["Ana.Lopez+cda@Bajio.com.MX", "o'brien_2@ferreteria-lopez.mx"]
RFC = "CBA950612K21"


def _error_of(page, field):
    """The message shown next to a field (the macro gives it the id <field>-error)."""
    match = re.search(rf'id="{field}-error">([^<]*)<', page)
    return match.group(1) if match else None


def _user(email):
    db.session.rollback()
    return db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))


# Each door takes an address and returns (HTTP status or exit code, the Spanish reason shown or None).

def _register(client, app, tmp_path, email):
    response = client.post("/cuenta/crear", data=sign_up_data(email=email))
    return response.status_code, _error_of(response.get_data(as_text=True), "email")


def _sign_in(client, app, tmp_path, email):
    response = client.post("/cuenta/ingresar", data={"email": email, "password": factories.PASSWORD})
    return response.status_code, _error_of(response.get_data(as_text=True), "email")


def _profile(client, app, tmp_path, email):
    owner = factories.user(email="titular@bajio.mx")
    db.session.commit()
    client.post("/cuenta/ingresar", data={"email": owner.email, "password": factories.PASSWORD})
    response = client.post("/perfil/correo", data={"email-new_email": email,
                                                   "email-current_password": factories.PASSWORD})
    return response.status_code, _error_of(response.get_data(as_text=True), "email-new_email")


def _api(client, app, tmp_path, email):
    api = ApiClient(client, token())
    response = api.put(f"/desks/{RFC}", {"razon_social": "Comercializadora del Bajío", "users": [
        {"email": email, "name": "Ana López"}]})
    return response.status_code, (response.json.get("error") or {}).get("fields", {}).get("users[0].email")


def _csv_import(client, app, tmp_path, email):
    path = tmp_path / "desks.csv"
    path.write_text(f'rfc,razon_social,user_email,user_name\n{RFC},Comercializadora del Bajío,"{email}",Ana López\n',
                    encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["portal", "import", str(path)])
    reason = re.search(r"línea \d+: user_email: (.*)", result.output)
    return result.exit_code, reason.group(1) if reason else None


DOORS = {"crear-cuenta": _register, "iniciar-sesion": _sign_in, "datos-generales": _profile, "api": _api,
         "importacion-csv": _csv_import}
REFUSED = {"crear-cuenta": 422, "iniciar-sesion": 422, "datos-generales": 422, "api": 422, "importacion-csv": 1}


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("email, reason", [bad[1:] for bad in BAD], ids=[bad[0] for bad in BAD])
def test_every_door_refuses_the_same_address_with_the_same_reason(app, client, tmp_path, door, email, reason):
    status, shown = DOORS[door](client, app, tmp_path, email)
    assert (status, shown) == (REFUSED[door], reason)
    assert _user(email) is None


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("email", GOOD, ids=["mayusculas-y-mas", "apostrofo-y-guion"])
def test_every_door_accepts_the_same_address(app, client, tmp_path, door, email):
    if door == "iniciar-sesion":
        factories.user(email=email.lower())
        db.session.commit()
    status, shown = DOORS[door](client, app, tmp_path, email)
    assert shown is None
    assert status == {"crear-cuenta": 303, "iniciar-sesion": 303, "datos-generales": 303, "api": 201,
                      "importacion-csv": 0}[door]
    if door != "datos-generales":  # there the address is the account's only once its link is opened
        assert _user(email).email == email.lower()
