"""Security headers: CSP with frame-ancestors, nosniff, referrer policy, HSTS on HTTPS."""
import re

from flask import request

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


def init_app(app):
    ancestors = frame_ancestors(app.config["FRAME_ANCESTORS"])
    csp = "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        f"frame-ancestors {ancestors}",
    ])
    # Only when no other origin may frame the portal: X-Frame-Options would forbid the intranet's frame.
    frame_options = OLD_FRAME_OPTIONS.get(ancestors)

    @app.after_request
    def _headers(response):
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
