"""`flask portal token …` and `flask portal import …`, on each database."""
import hashlib

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import ApiToken, AuditEvent, Desk, Membership, OutboxMessage, PrepaidKey, Service, User
from portal import key_codes


@pytest.fixture
def flask(app):
    """flask(*args) runs a CLI command and returns click's result."""
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


# --- tokens --------------------------------------------------------------------------------------

def test_token_create_prints_the_token_once_and_keeps_only_its_hash(flask, client):
    result = flask("portal", "token", "create", "--name", "billing",
                   "--scope", "desks:write,services:write,keys:write,keys:assign")
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith("esk_") and len(secret) > 40
    assert "no se volverá a mostrar" in result.output
    stored = db.session.scalar(select(ApiToken))
    assert stored.name == "billing" and stored.scopes == "desks:write,services:write,keys:write,keys:assign"
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str([stored.name, stored.scopes, stored.token_hash])
    response = client.put("/api/v1/desks/CBA950612K21", json={"razon_social": "Comercializadora"},
                          headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 201


def test_token_list_shows_names_and_scopes_never_tokens(flask):
    created = flask("portal", "token", "create", "--name", "billing", "--scope", "desks:write")
    flask("portal", "token", "create", "--name", "timbrado", "--scope", "stamps:write")
    flask("portal", "token", "revoke", "timbrado")
    listing = flask("portal", "token", "list")
    assert listing.exit_code == 0
    lines = listing.output.strip().splitlines()
    assert lines[0].startswith("timbrado\tstamps:write") and "revocado" in lines[0]
    assert lines[1].startswith("billing\tdesks:write") and lines[1].endswith("activo") and "nunca" in lines[1]
    secret = created.output.strip().splitlines()[-1]
    assert secret not in listing.output
    assert db.session.scalar(select(ApiToken.token_hash).where(ApiToken.name == "billing")) not in listing.output


def test_token_revoke_stops_the_token(flask, client):
    secret = flask("portal", "token", "create", "--name", "billing", "--scope", "read").output.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/desks", headers=headers).status_code == 200
    result = flask("portal", "token", "revoke", "billing")
    assert result.exit_code == 0 and "revocado" in result.output
    assert client.get("/api/v1/desks", headers=headers).status_code == 401
    assert "ya estaba revocado" in flask("portal", "token", "revoke", "billing").output


@pytest.mark.parametrize("args, message", [
    (["--name", "billing", "--scope", "desks:write,todo"], "Alcances no válidos: todo"),
    (["--name", "billing", "--scope", ","], "Alcances no válidos: ninguno"),
    (["--name", "Con Espacios", "--scope", "read"], "El nombre admite"),
])
def test_token_create_refuses_bad_input(flask, args, message):
    result = flask("portal", "token", "create", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert db.session.query(ApiToken).count() == 0


def test_token_names_are_unique_and_unknown_ones_cannot_be_revoked(flask):
    flask("portal", "token", "create", "--name", "billing", "--scope", "read")
    again = flask("portal", "token", "create", "--name", "billing", "--scope", "read")
    assert again.exit_code != 0 and "Ya existe un token llamado «billing»" in again.output
    missing = flask("portal", "token", "revoke", "nadie")
    assert missing.exit_code != 0 and "No existe un token llamado «nadie»" in missing.output


# --- import --------------------------------------------------------------------------------------

DESKS = """rfc,razon_social,kind,user_email,user_name,user_phone,user_role
CBA950612K21,Comercializadora del Bajío S.A. de C.V.,cliente,laura@bajio.com.mx,Laura Méndez,477 123 4567,owner
CBA950612K21,Comercializadora del Bajío S.A. de C.V.,cliente,pedro@bajio.com.mx,Pedro Ruiz,,member
SIN080415N97,Sistemas Integrales del Norte S.A. de C.V.,distribuidor,jorge@sin.mx,Jorge Ramírez,,owner
"""


def test_import_desks_creates_users_and_is_idempotent(flask, tmp_path):
    path = write(tmp_path, "desks.csv", DESKS)
    first = flask("portal", "import", path)
    assert first.exit_code == 0, first.output
    assert "importado (3 filas: 2 nuevas, 1 actualizada, 0 sin cambios)" in first.output
    assert db.session.query(Desk).count() == 2
    assert db.session.query(Membership).count() == 3
    welcome = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.recipient)).all()
    assert [m.recipient for m in welcome] == ["jorge@sin.mx", "laura@bajio.com.mx", "pedro@bajio.com.mx"]
    assert "http://127.0.0.1:5000/cuenta/definir/" in welcome[0].body_text  # PORTAL_URL, outside any request
    second = flask("portal", "import", path)
    assert "importado (3 filas: 0 nuevas, 0 actualizadas, 3 sin cambios)" in second.output
    assert db.session.query(OutboxMessage).count() == 3
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).first()
    assert event.event == "import.desks" and event.actor == "cli" and event.detail["created"] == 2


def test_an_import_with_broken_rows_reports_each_line_and_imports_nothing(flask, tmp_path):
    text = (DESKS
            + "CBA951332K21,Fecha imposible,cliente,,,,\n"
            + "PES120301Q45,,cliente,,,,\n"
            + "PES120301Q45,Papelería,socio,ana@estrella.mx,Ana,,\n"
            + "PES120301Q45,Papelería,cliente\n"
            + "\n"
            + '"PES120301Q45","Papelería ""La Estrella""\nsegunda línea",cliente,luis@estrella.mx,,,\n')
    result = flask("portal", "import", write(tmp_path, "desks.csv", text))
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if ", línea " in line]
    assert [line.split(", ", 1)[1] for line in errors] == [
        "línea 5: rfc: La fecha del RFC (AAMMDD) no es una fecha válida.",
        "línea 6: razon_social: Campo obligatorio.",
        "línea 7: kind: Valor no permitido; usa uno de: cliente, distribuidor.",
        "línea 8: fila: tiene 3 columnas y el encabezado 7.",
        # a quoted razón social spanning lines 10 and 11: one row, reported at its first line
        "línea 10: razon_social: Contiene caracteres no permitidos.",
        "línea 10: user_name: Campo obligatorio.",
    ]
    assert "desks.csv: 5 de 8 filas con errores; no se importó nada." in result.output
    assert db.session.query(Desk).count() == 0
    assert db.session.query(User).count() == 0
    assert db.session.query(OutboxMessage).count() == 0


def test_dry_run_checks_everything_and_keeps_nothing(flask, tmp_path):
    result = flask("portal", "import", "--dry-run", write(tmp_path, "desks.csv", DESKS))
    assert result.exit_code == 0
    assert "revisión sin errores; no se guardó nada (3 filas: 2 nuevas" in result.output
    assert db.session.query(Desk).count() == 0 and db.session.query(OutboxMessage).count() == 0


def test_import_reads_spreadsheet_csv_with_bom_and_semicolons(flask, tmp_path):
    text = "\ufeffrfc;razon_social;kind\nCBA950612K21;Comercializadora del Bajío;distribuidor\n"
    result = flask("portal", "import", "--kind", "desks", write(tmp_path, "clientes-2026.csv", text))
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(Desk.razon_social)) == "Comercializadora del Bajío"


def test_import_services_with_the_api_rules(flask, tmp_path, world):
    rfc = world.a.desk.rfc
    good = (f"serial,desk_rfc,category,product,version,users,cda,acquisition,activated_on,next_payment_on,plan\n"
            f"SAE100,{rfc},suscripciones,SAE,9.0,5,CDA-SECRETO-1,electronica,2025-03-14,2026-12-14,\n"
            f"ESP100,{rfc},espacio,,,,,,2026-01-01,,Respaldo en línea\n")
    result = flask("portal", "import", write(tmp_path, "services.csv", good))
    assert result.exit_code == 0, result.output
    assert "2 nuevas" in result.output
    assert "CDA-SECRETO-1" not in result.output
    sae = db.session.scalar(select(Service).where(Service.serial == "SAE100"))
    assert (sae.users, sae.cda, sae.product.code) == (5, "CDA-SECRETO-1", "SAE")
    broken = (f"serial,desk_rfc,category,product,users,acquisition\n"
              f"SAE100,{rfc},suscripciones,SAE,diez,electronica\n"
              f"COI100,{rfc},licenciamiento,,1,\n"
              f"NOI100,PES120301Q45,suscripciones,NOI,1,fisica\n"
              f"CAJA 1,{rfc},suscripciones,CAJA,1,fisica\n"
              f"CAJA2,{rfc},suscripciones,CAJA,1,fisica\n")
    result = flask("portal", "import", write(tmp_path, "services-2.csv", broken))
    assert result.exit_code == 1
    assert "línea 2: users: Debe ser un número entero." in result.output
    assert "línea 3: product: Un sistema necesita su producto." in result.output
    assert "línea 3: acquisition: Un sistema necesita su forma de adquisición" in result.output
    assert "línea 4: desk_rfc: No existe un escritorio con ese RFC; créalo primero." in result.output
    assert "línea 5: serial: El número de serie solo admite" in result.output
    assert "línea 6" not in result.output
    assert db.session.query(Service).count() == 2  # the good row 6 waits for the file to be fixed


def test_import_keys(flask, tmp_path):
    first, second = key_codes.generate(), key_codes.generate()
    text = (f"code,quantity,unit,product,expires_on,batch\n"
            f"{key_codes.grouped(first).lower()},50,Timbres,,2030-12-31,legado-2025\n"
            f"{second},1,Licencias,SAE,,legado-2025\n")
    path = write(tmp_path, "keys.csv", text)
    assert flask("portal", "import", path).exit_code == 0
    keys = {key.code: key for key in db.session.scalars(select(PrepaidKey))}
    assert set(keys) == {first, second}
    assert (keys[first].status, keys[first].quantity, keys[first].batch) == ("nueva", 50, "legado-2025")
    assert keys[second].product.code == "SAE" and keys[second].expires_on is None
    again = flask("portal", "import", path)
    assert "0 nuevas, 0 actualizadas, 2 sin cambios" in again.output
    typo = second[:-1] + ("0" if second[-1] != "0" else "1")
    broken = (f"code,quantity,unit\n{first},60,Timbres\n{typo},5,Timbres\n"
              f"{key_codes.generate()},0,Timbres\n")
    result = flask("portal", "import", write(tmp_path, "keys-2.csv", broken))
    assert result.exit_code == 1
    assert "línea 2: La clave ya existe con otros datos" in result.output
    assert "línea 3: code: Clave no válida" in result.output
    assert "línea 4: quantity: Debe ser al menos 1." in result.output
    assert db.session.query(PrepaidKey).count() == 2


def test_import_refuses_a_file_it_cannot_read(flask, tmp_path):
    wrong_header = flask("portal", "import", write(tmp_path, "desks.csv", "rfc,nombre\nCBA950612K21,X\n"))
    assert wrong_header.exit_code == 1
    assert "Línea 1: encabezado no válido para desks.csv; columnas desconocidas: nombre; faltan: razon_social" \
        in wrong_header.output
    unknown_kind = flask("portal", "import", write(tmp_path, "datos.csv", "rfc\n"))
    assert unknown_kind.exit_code == 1 and "su nombre debe incluir desks, services o keys" in unknown_kind.output
    latin1 = flask("portal", "import", write(tmp_path, "desks.csv", "rfc,razon_social\nCBA950612K21,Bajío\n", "latin-1"))
    assert latin1.exit_code == 1 and "no está en UTF-8" in latin1.output
    assert db.session.query(Desk).count() == 0


def test_each_file_is_its_own_transaction(flask, tmp_path, world):
    desks = write(tmp_path, "desks.csv", DESKS)
    services = write(tmp_path, "services.csv", "serial,desk_rfc,category\nX1,CBA950612K21,suscripciones\n")
    result = flask("portal", "import", desks, services)
    assert result.exit_code == 1
    assert db.session.query(Desk).count() == 4  # world's two and the file's two
    assert db.session.query(Service).count() == 0
