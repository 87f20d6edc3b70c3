"""The Mexican RFC (Registro Federal de Contribuyentes): format check and normal form."""
import re
from datetime import date

# 3 letters for a company (persona moral) or 4 for a person (persona física), the date AAMMDD,
# and a 3-character homoclave whose last character is the check digit (a digit or "A").
_RFC = re.compile(r"^([A-ZÑ&]{3,4})(\d{2})(\d{2})(\d{2})([A-Z0-9]{2}[0-9A])$")
_SEPARATORS = re.compile(r"[\s\-_.]")
# The SAT's generic RFCs (público en general, extranjeros): valid in form, nobody's own.
GENERIC = {"XAXX010101000", "XEXX010101000"}


def normalise_rfc(value):
    """The RFC in upper case without separators; ValueError (in Spanish) when it is not an RFC."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("Captura el RFC.")
    if len(value) > 40:
        raise ValueError("El RFC debe tener 12 caracteres (persona moral) o 13 (persona física).")
    rfc = _SEPARATORS.sub("", value).upper()
    if len(rfc) not in (12, 13):
        raise ValueError("El RFC debe tener 12 caracteres (persona moral) o 13 (persona física).")
    match = _RFC.match(rfc)
    if not match:
        raise ValueError("El RFC no tiene el formato correcto: letras iniciales, fecha AAMMDD y homoclave.")
    _letters, yy, mm, dd, _homoclave = match.groups()
    if not _real_date(int(yy), int(mm), int(dd)):
        raise ValueError("La fecha del RFC (AAMMDD) no es una fecha válida.")
    return rfc


def _real_date(yy, mm, dd):
    # AA does not say the century; a date that exists in either one is a real date.
    for century in (1900, 2000):
        try:
            date(century + yy, mm, dd)
            return True
        except ValueError:
            continue
    return False


def is_person(rfc):
    """True for a persona física (13 characters), False for a company (12)."""
    return len(rfc) == 13
