"""CSV import of desks, services and keys: the API's rules, row by row, one transaction per file.

Every row is checked (each inside a savepoint, so a broken row leaves nothing behind for the rows
after it to trip on); if any row is wrong the whole file is rolled back and every error is reported
with its line number. A dry run checks everything and keeps nothing.
"""
import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select

from portal import audit, key_codes
from portal.backoffice import operations
from portal.backoffice.operations import Conflict, NotFound, Outcome
from portal.backoffice.schemas import INPUTS, InvalidInput, validate
from portal.extensions import db
from portal.models import PrepaidKey
from portal.models.prepaid import code_digest

DESK_COLUMNS = ("rfc", "razon_social", "kind", "user_email", "user_name", "user_phone", "user_role")
SERVICE_COLUMNS = ("serial", *INPUTS["ServiceInput"]["properties"])
KEY_COLUMNS = ("code", "quantity", "unit", "product", "expires_on", "batch")
KINDS = {"desks": DESK_COLUMNS, "services": SERVICE_COLUMNS, "keys": KEY_COLUMNS}
REQUIRED = {"desks": ("rfc", "razon_social"), "services": ("serial", "desk_rfc", "category"),
            "keys": ("code", "quantity")}
MAX_ROWS = 100_000


@dataclass
class ImportReport:
    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list = field(default_factory=list)  # (line, message)

    @property
    def rows(self):
        return self.created + self.updated + self.unchanged

    def count(self, outcome):
        if outcome.created:
            self.created += 1
        elif outcome.changed:
            self.updated += 1
        else:
            self.unchanged += 1


class ImportRefused(ValueError):
    """The file cannot be read as this kind of CSV at all."""


def kind_of(filename):
    """desks, services or keys from a file name like desks.csv or 2026-services.csv."""
    stem = filename.rsplit("/", 1)[-1].lower()
    matches = [kind for kind in KINDS if kind in stem]
    if len(matches) != 1:
        raise ImportRefused(f"No sé qué contiene «{filename}»: su nombre debe incluir desks, services o keys "
                            "(o indica --kind).")
    return matches[0]


def import_csv(kind, text, *, today, dry_run=False):
    """Import one file's text (`today`: the portal's date); commits only if every row is good and it is not a dry run."""
    report = ImportReport(kind)
    rows = _rows(kind, text)
    apply = {"desks": _desk_row, "services": _service_row, "keys": lambda row: _key_row(row, today)}[kind]
    for line, row in rows:
        savepoint = db.session.begin_nested()
        try:
            report.count(apply(row))
            savepoint.commit()
        except InvalidInput as error:
            savepoint.rollback()
            report.errors += [(line, f"{_column(kind, name)}: {message}") for name, message in error.fields.items()]
        except (NotFound, Conflict) as error:
            savepoint.rollback()
            report.errors.append((line, error.message))
    if report.errors or dry_run:
        db.session.rollback()
    else:
        audit.record(f"import.{kind}", actor="cli", created=report.created, updated=report.updated,
                     unchanged=report.unchanged)
        db.session.commit()
    return report


def _rows(kind, text):
    """(line number, {column: value}) for each data row; empty cells are left out."""
    if text.startswith("\ufeff"):
        text = text[1:]  # a spreadsheet's byte-order mark
    # Spreadsheets in Spanish locales separate with ";": the header line says which one this file uses.
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [name.strip().lower() for name in next(reader, [])]
    unknown = [name for name in header if name not in KINDS[kind]]
    missing = [name for name in REQUIRED[kind] if name not in header]
    if unknown or missing or len(set(header)) != len(header):
        raise ImportRefused(f"Línea 1: encabezado no válido para {kind}.csv"
                            + (f"; columnas desconocidas: {', '.join(unknown)}" if unknown else "")
                            + (f"; faltan: {', '.join(missing)}" if missing else "")
                            + (". Columnas: " + ", ".join(KINDS[kind]) + "."))
    rows, line = [], reader.line_num
    for cells in reader:
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            rows.append((start, {"__width__": (len(cells), len(header))}))
            continue
        rows.append((start, {name: cell.strip() for name, cell in zip(header, cells) if cell.strip()}))
        if len(rows) > MAX_ROWS:
            raise ImportRefused(f"El archivo tiene más de {MAX_ROWS} filas; divídelo.")
    return rows


def _width(row):
    if "__width__" in row:
        cells, header = row["__width__"]
        raise InvalidInput({"fila": f"tiene {cells} columnas y el encabezado {header}."})


def _typed(row, schema_name):
    """Cells as the JSON the API would receive: integers where the schema says integer."""
    properties = INPUTS[schema_name]["properties"]
    data, fields = {}, {}
    for name, value in row.items():
        types = properties.get(name, {}).get("type", "string")
        if "integer" in (types if isinstance(types, list) else [types]):
            if not (value.lstrip("-").isdigit() and len(value) < 12):
                fields[name] = "Debe ser un número entero."
                continue
            value = int(value)
        data[name] = value
    if fields:
        raise InvalidInput(fields)
    return data


def _desk_row(row):
    _width(row)
    data = {name: row[name] for name in ("razon_social", "kind") if name in row}
    user = {target: row[source] for source, target in (("user_email", "email"), ("user_name", "name"),
                                                       ("user_phone", "phone"), ("user_role", "role")) if source in row}
    if user:
        data["users"] = [user]
    try:
        return operations.upsert_desk(row.get("rfc", ""), data)
    except InvalidInput as error:
        # users[0].email is the user_email column of this row
        raise InvalidInput({name.replace("users[0].", "user_"): message for name, message in error.fields.items()}) \
            from None


def _service_row(row):
    _width(row)
    data = _typed({name: value for name, value in row.items() if name != "serial"}, "ServiceInput")
    return operations.upsert_service(row.get("serial", ""), data)


def _key_row(row, today):
    """One existing code (e.g. sold before the portal): created `nueva`; the same row again changes nothing."""
    _width(row)
    data = _typed({name: row[name] for name in ("quantity", "unit", "product", "expires_on") if name in row},
                  "KeyBatchInput")
    if "batch" in row:
        data["reference"] = row["batch"]
    validate("KeyBatchInput", {"count": 1, **data})
    try:
        code = key_codes.normalise(row.get("code", ""))
    except ValueError:
        raise InvalidInput({"code": "Clave no válida: 16 caracteres con su carácter verificador."}) from None
    wanted = operations.key_values(data, today)
    key = db.session.scalar(select(PrepaidKey).where(PrepaidKey.code_digest == code_digest(code)))
    if key is None:
        db.session.add(PrepaidKey(code=code, status="nueva", **wanted))
        db.session.flush()
        return Outcome(code, created=True, changed=True)
    if any(getattr(key, name) != value for name, value in wanted.items()):
        raise Conflict("key_exists", "La clave ya existe con otros datos; no se modifica por importación.")
    return Outcome(key)


def _column(kind, name):
    """The CSV column a field error is about (keys.csv calls the API's reference "batch")."""
    return "batch" if (kind, name) == ("keys", "reference") else name
