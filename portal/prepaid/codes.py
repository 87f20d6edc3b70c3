"""Prepaid key codes: 16 Crockford base32 characters, the last a Luhn mod 32 check character.

Luhn mod N catches every single mistyped character and every swap of two neighbours but one
(0 and Z, as Luhn's 09/90), so a capture error is reported before the database is asked.
"""
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
N = len(ALPHABET)
LENGTH = 16
# What people type instead of what they mean.
LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
SEPARATORS = str.maketrans("", "", " -_.\t\u00a0")


class MalformedCode(ValueError):
    """Not 16 characters of the alphabet."""


class BadCheckCharacter(ValueError):
    """16 good characters whose check character does not match: a typo."""


def check_character(body):
    """The Luhn mod 32 check character of a 15-character body."""
    factor = 2
    total = 0
    for ch in reversed(body):
        addend = factor * VALUE[ch]
        factor = 1 if factor == 2 else 2
        total += addend // N + addend % N
    return ALPHABET[(N - total % N) % N]


def normalise(raw):
    """The canonical code for what a user typed (case, spaces, dashes and look-alikes forgiven).

    Raises MalformedCode or BadCheckCharacter.
    """
    if not isinstance(raw, str) or len(raw) > 64:
        raise MalformedCode(raw)
    code = raw.translate(SEPARATORS).upper().translate(LOOK_ALIKES)
    if len(code) != LENGTH or any(ch not in VALUE for ch in code):
        raise MalformedCode(raw)
    if check_character(code[:-1]) != code[-1]:
        raise BadCheckCharacter(raw)
    return code


def generate():
    """A new random, valid code (75 random bits)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH - 1))
    return body + check_character(body)


def grouped(code):
    """XXXX-XXXX-XXXX-XXXX for reading."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def masked(code):
    """Everything but the last four hidden: ••••-••••-••••-WXYZ."""
    return "••••-••••-••••-" + code[-4:]
