"""Security headers: CSP with frame-ancestors, nosniff, referrer policy, HSTS on HTTPS."""
from flask import request


def init_app(app):
    ancestors = app.config["FRAME_ANCESTORS"].strip() or "'self'"
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
    only_self = ancestors == "'self'"

    @app.after_request
    def _headers(response):
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if only_self:
            response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if response.mimetype == "text/html" and "Cache-Control" not in response.headers:
            # Pages show a desk's private data: never kept by shared caches or the back button's disk.
            response.headers["Cache-Control"] = "no-store"
        return response
