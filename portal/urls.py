"""URL helpers."""
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import request


def safe_next(target):
    """The portal URL for `target` — a path inside the portal, without the mount prefix — or None.

    Anything that could leave the portal (a scheme, a host, `//`, backslashes, control characters)
    is refused, so `next=https://elsewhere` never redirects away.
    """
    if not target or not isinstance(target, str) or len(target) > 2000:
        return None
    target = target.strip()
    if any(ch in target for ch in "\\\r\n\t\x00") or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return request.script_root + target


def here():
    """The current path and query without the mount prefix: what `next` fields carry."""
    path = request.full_path
    return path[:-1] if path.endswith("?") else path


def with_param(target, name, value):
    """`target` (a path with its query) with the parameter `name` set to `value`, once."""
    parts = urlsplit(target)
    query = [(key, val) for key, val in parse_qsl(parts.query, keep_blank_values=True) if key != name]
    query.append((name, str(value)))
    return urlunsplit(parts._replace(query=urlencode(query)))
