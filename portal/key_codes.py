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
# How a substitution is told to the person who typed it ("Leímos la O como cero").
READ_AS = {"O": "la O como cero", "I": "la I como uno", "L": "la L como uno"}
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


def reading_note(raw):
    """What normalise() read differently from what was typed, in words, or "" when nothing was.

    A key has no O, I or L, so a typed one was read as the digit it looks like; the person is
    told, so a code copied from a bad print does not pass unnoticed.
    """
    if not isinstance(raw, str):
        return ""
    typed = raw.upper()
    read = [READ_AS[letter] for letter in READ_AS if letter in typed]
    if not read:
        return ""
    listed = read[0] if len(read) == 1 else ", ".join(read[:-1]) + " y " + read[-1]
    return f"Leímos {listed}."


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
