"""Security headers: CSP with frame-ancestors, nosniff, referrer policy, HSTS on HTTPS."""
import re
from functools import lru_cache
from urllib.parse import urlsplit

from flask import current_app, request, session

from portal.config import ConfigError

# The portal uses no device or powerful feature: none for it nor for anything it might frame. Only
# features Chromium knows: it writes an error in the console of every page for any other ("bluetooth").
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in (
    "camera", "microphone", "geolocation", "payment", "usb", "serial", "hid", "midi",
    "accelerometer", "gyroscope", "magnetometer", "display-capture", "screen-wake-lock", "browsing-topics"))
# X-Frame-Options for browsers without CSP frame-ancestors; it can only say "nobody" or "this origin".
OLD_FRAME_OPTIONS = {"'none'": "DENY", "'self'": "SAMEORIGIN"}


def frame_ancestors(value):
    """The CSP frame-ancestors sources of FRAME_ANCESTORS: origins separated by spaces (commas forgiven)."""
    if ";" in value:
        raise ConfigError(f"FRAME_ANCESTORS={value!r}: separa los orígenes con espacios, sin «;».")
    return " ".join(source for source in re.split(r"[\s,]+", value) if source) or "'self'"


@lru_cache(maxsize=64)
def content_security_policy(ancestors, form_targets=()):
    """The CSP; `form_targets`: origins a form of the page may end up at (an OpenID Provider a
    form's answer redirects to: form-action covers the redirects of a submission too)."""
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        " ".join(("form-action 'self'", *form_targets)),
        "base-uri 'none'",
        "object-src 'none'",
        f"frame-ancestors {ancestors}",
    ])


def origin_of(url):
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def policy_with_form_targets(urls):
    """This app's CSP letting the page's forms end at the origins of `urls` (a view sets it itself)."""
    targets = tuple(sorted({origin_of(url) for url in urls if url}))
    return content_security_policy(frame_ancestors(current_app.config["FRAME_ANCESTORS"]), targets)


def init_app(app):
    ancestors = frame_ancestors(app.config["FRAME_ANCESTORS"])
    csp = content_security_policy(ancestors)
    # Only when no other origin may frame the portal: X-Frame-Options would forbid the intranet's frame.
    frame_options = OLD_FRAME_OPTIONS.get(ancestors)

    @app.after_request
    def _headers(response):
        if response.mimetype == "text/html" and "Content-Security-Policy" not in response.headers:
            # A session the company's provider opened: Cerrar sesión's answer leads to that provider.
            marker = session.get("sso") if request.cookies else None
            if isinstance(marker, dict) and isinstance(marker.get("issuer"), str):
                response.headers["Content-Security-Policy"] = content_security_policy(
                    ancestors, (origin_of(marker["issuer"]),))
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if frame_options:
            response.headers.setdefault("X-Frame-Options", frame_options)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if response.mimetype == "text/html" and "Cache-Control" not in response.headers:
            # Pages show a desk's private data: never kept by shared caches or the back button's disk.
            # no-cache too: elinks honours only that one, and would otherwise show a page again from
            # its cache after a redirect (a notice never seen, a sign-in form with a stale token).
            response.headers["Cache-Control"] = "no-store, no-cache"
        return response
