"""What an account's text fields may hold: names, phones and e-mail addresses. No Flask here.

Names end up in e-mails, the desk selector and the back office, so they are normalised (NFKC:
full-width and compatibility forms become plain letters) and limited to the Latin alphabet,
digits and common punctuation: no control or invisible characters (bidi overrides, zero-width
spaces), and no Cyrillic or Greek look-alikes that would make "Аspel" pass for "Aspel".
"""
import re
import unicodedata

NAME_PUNCTUATION = set(" .,&'’-()/#°ªº:;+@!\"")
PHONE = re.compile(r"^\+?[\d\s().-]+$")
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def clean_name(value, max_length, label="El nombre"):
    """A person's or company's name, normalised; ValueError in Spanish when it cannot be one."""
    text = unicodedata.normalize("NFKC", value or "")
    for ch in text:
        if unicodedata.category(ch)[0] == "C" and ch not in "\t\n\r":
            raise ValueError(f"{label} contiene caracteres de control o invisibles.")
    text = " ".join(text.split())
    if not text:
        raise ValueError(f"Captura {label[0].lower() + label[1:]}.")
    if len(text) > max_length:
        raise ValueError(f"{label} admite como máximo {max_length} caracteres.")
    for ch in text:
        if ch.isalpha():
            if not unicodedata.name(ch, "").startswith("LATIN"):
                raise ValueError(f"{label} solo admite letras del alfabeto latino, números y signos comunes.")
        elif not (ch.isascii() and ch.isdigit()) and ch not in NAME_PUNCTUATION:
            raise ValueError(f"{label} solo admite letras del alfabeto latino, números y signos comunes.")
    if not any(ch.isalpha() for ch in text):
        raise ValueError(f"{label} debe contener letras.")
    return text


def clean_phone(value):
    """A phone number as typed (digits, spaces, + ( ) - .), with 10 to 15 digits."""
    text = " ".join((value or "").split())
    if not text:
        raise ValueError("Captura tu teléfono.")
    if len(text) > 30 or not PHONE.match(text):
        raise ValueError("Captura un teléfono válido: solo números, espacios y los signos + ( ) -.")
    digits = sum(ch.isdigit() for ch in text)
    if not 10 <= digits <= 15:
        raise ValueError("El teléfono debe tener al menos 10 dígitos (lada incluida).")
    return text


def clean_email(value):
    """An e-mail address in lower case; plain ASCII only, so no look-alike can pose as another.

    The one rule for every door an address comes in by: Crear cuenta, Iniciar sesión, Datos
    generales, the back office's API and its CSV import (portal.backoffice.schemas), so an address
    the back office accepts is one its owner can sign in with."""
    text = (value or "").strip()
    if not text:
        raise ValueError("Captura tu correo electrónico.")
    if len(text) > 254:
        raise ValueError("El correo es demasiado largo.")
    if any(ch.isalpha() and not ch.isascii() for ch in text):
        raise ValueError("El correo no admite acentos, ñ ni letras de otros alfabetos.")
    if not EMAIL.match(text) or ".." in text or len(text.split("@")[0]) > 64:
        raise ValueError("Captura un correo electrónico válido.")
    return text.lower()
