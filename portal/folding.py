"""Text folded for search: lower case, no accents, single spaces — the same on SQLite and PostgreSQL.

A model keeps a `search_text` column with `fold(...)` of the fields a user may type; the grid folds
what the user typed the same way and compares with LIKE, so "bajio" finds "Bajío" on both databases.
"""
import unicodedata


def fold(*parts):
    """`parts` joined by spaces, lower-cased, accents stripped, whitespace collapsed."""
    text = " ".join(str(part) for part in parts if part not in (None, ""))
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.split())
