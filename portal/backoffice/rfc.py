"""A minimal Mexican RFC check for the back office.

The accounts area writes portal/rfc.py::normalise_rfc for the sign-up form; this one has the same
contract (the normal form, or ValueError with a Spanish message) and exists only so the API did not
wait for it: at merge, import that one here instead and delete this file.
"""
import re
from datetime import date

# 3 letters for a company, 4 for a person; AAMMDD; a 3-character homoclave whose last character,
# the check digit, is a digit or A.
_RFC = re.compile(r"^[A-ZÑ&]{3,4}(\d{2})(\d{2})(\d{2})[A-Z\d]{2}[\dA]$")
_SEPARATORS = re.compile(r"[\s\-_.]")


def normalise_rfc(value):
    """The RFC in capitals without separators; ValueError (in Spanish) when it is not an RFC."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("Captura el RFC.")
    rfc = _SEPARATORS.sub("", value).upper() if len(value) <= 40 else ""
    match = _RFC.match(rfc)
    if not match:
        raise ValueError("El RFC no tiene el formato correcto: 3 o 4 letras, fecha AAMMDD y homoclave.")
    if not _real_date(*(int(part) for part in match.groups())):
        raise ValueError("La fecha del RFC (AAMMDD) no es una fecha válida.")
    return rfc


def _real_date(yy, mm, dd):
    # AA names 19AA or 20AA; a date that exists in either century is real (29 Feb 00 is 2000's).
    for century in (2000, 1900):
        try:
            date(century + yy, mm, dd)
            return True
        except ValueError:
            continue
    return False
