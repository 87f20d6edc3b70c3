"""URL helpers."""
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import current_app, request


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


def public_url(endpoint, **values):
    """The absolute URL of `endpoint` at the portal's public address (PORTAL_URL, prefix included).

    For links that leave the portal (e-mail): never built from the request's Host header, and
    the same in a request, the CLI or the outbox worker.
    """
    parts = urlsplit(current_app.config["PORTAL_URL"])
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme)
    return adapter.build(endpoint, values, force_external=True)


def with_param(target, name, value):
    """`target` (a path with its query) with the parameter `name` set to `value`, once."""
    parts = urlsplit(target)
    query = [(key, val) for key, val in parse_qsl(parts.query, keep_blank_values=True) if key != name]
    query.append((name, str(value)))
    return urlunsplit(parts._replace(query=urlencode(query)))
