"""Helpers for the embedding tests: every URL a page or a response carries, and where it points."""
import re
import socket
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

# Attributes whose value is a URL the browser (or htmx) will follow.
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "hx-get", "hx-post", "hx-put", "hx-patch", "hx-delete",
                  "hx-push-url", "hx-replace-url"}
# Response headers that send the browser (or htmx) somewhere.
URL_HEADERS = ("Location", "HX-Redirect", "HX-Push-Url", "HX-Location", "HX-Replace-Url")

# The tests that measure how pages render (weight, layout, accessibility) run on one database:
# what they look at is the same HTML whatever stores the rows.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class _Urls(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found = []
        self.inline = []  # inline styles, scripts and event handlers: what the CSP would block

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in URL_ATTRIBUTES and value is not None:
                self.found.append((tag, name, value))
            if name == "style" or name.startswith("on") or name.startswith("hx-on"):
                self.inline.append(f"<{tag} {name}=…>")
        if tag == "script" and not dict(attrs).get("src"):
            self.inline.append("<script> sin src")
        if tag == "style":
            self.inline.append("<style>")


def urls_in(html):
    """[(tag, attribute, value)] of every URL in the HTML."""
    parser = _Urls()
    parser.feed(html)
    return parser.found


def inline_code_in(html):
    """What the CSP would refuse to run or apply: inline styles, scripts and handlers."""
    parser = _Urls()
    parser.feed(html)
    return parser.inline


def misplaced(url, prefix, origin, outside=()):
    """Why `url` does not lead into the portal at `origin` + `prefix`, or None when it does.

    Fragments, data: URIs, htmx's "true"/"false" and the addresses in `outside` (the store) are fine.
    """
    if url in ("true", "false") or url.startswith(("#", "data:", "mailto:")) or url in outside:
        return None
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        if f"{parts.scheme}://{parts.netloc}" != origin:
            return f"{url}: otro origen (se esperaba {origin})"
    elif not url.startswith("/"):
        return f"{url}: relativa, depende de la página que la contiene"
    if not (parts.path == prefix or parts.path.startswith(prefix + "/")):
        return f"{url}: sin el prefijo {prefix}"
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def links_in_text(text):
    """Every http(s) URL in an e-mail body (text or HTML)."""
    return [url.rstrip(".,;)") for url in re.findall(r"https?://[^\s\"'<>]+", text)]
