"""How a grid's values are written and read as text: numbers and dates as Mexico writes them, cells
escaped for HTML or kept safe for spreadsheets, LIKE patterns, a user's value quoted in a notice, and
the values of a query string.
"""
from datetime import date
from functools import lru_cache

from markupsafe import Markup, escape


def number(n):
    """12,345: thousands as written in Mexico."""
    return f"{n:,}"


def shown(value):
    """A user's value quoted in a notice: short, so a long URL cannot flood the page."""
    value = str(value)
    return value if len(value) <= 30 else value[:29] + "…"


def values_of(args, name):
    """Every value of a parameter, from a MultiDict or a plain dict."""
    if hasattr(args, "getlist"):
        return args.getlist(name)
    value = args.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def first_of(args, name):
    """The parameter's first value, stripped; None when absent or not text."""
    values = values_of(args, name)
    return values[0].strip() if values and isinstance(values[0], str) else None


def like_pattern(word):
    """%word% with LIKE's own characters escaped (use escape="\\")."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def parse_date(text):
    """DD/MM/AAAA (what the form shows) or AAAA-MM-DD (what links carry); None if not a real date."""
    text = (text or "").strip()
    try:
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            return date(int(text[:4]), int(text[5:7]), int(text[8:]))
        if len(text) == 10 and text[2] == "/" and text[5] == "/":
            return date(int(text[6:]), int(text[3:5]), int(text[:2]))
    except ValueError:
        return None
    return None


def day_text(day):
    """DD/MM/AAAA (what strftime("%d/%m/%Y") writes, without its cost on every cell)."""
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"


@lru_cache(maxsize=8192, typed=True)  # typed: Markup("<b>") must not answer for "<b>"
def html_text(text):
    """`text` escaped as Jinja escapes it, as plain text: a page's cells repeat their values (a
    client's name, a status, a quantity), and escaping each anew was most of a row's rendering."""
    return str(escape(text))


def badge(value, label):
    """A status cell: <span class="badge badge-VALUE">LABEL</span> (no str.format: one per row)."""
    return Markup(f'<span class="badge badge-{html_text(value)}">{html_text(label)}</span>')


def csv_safe(text):
    """A cell starting like a formula is run by spreadsheets: keep it text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
