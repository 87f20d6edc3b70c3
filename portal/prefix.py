"""The portal under SCRIPT_NAME (/portal): a path inside it reaches the portal, any other path gets
the portal's own Spanish 404, never the server's page.

gunicorn, left to apply SCRIPT_NAME itself, answers a path outside it with its English "500 Bad Request
… Configuration problem" page; deploy/gunicorn.conf.py therefore takes SCRIPT_NAME out of each
worker's environment once the portal is loaded, and gunicorn passes every path whole to this.
"""
from werkzeug.exceptions import NotFound


class Prefix:
    """WSGI middleware in front of the Flask app `app`, serving it under `prefix`.

    Inside ProxyFix: every answer, the 404 included, sees the proxy's scheme, host and client; and a
    path that carries the prefix is served under it whatever X-Forwarded-Prefix a client wrote.
    """

    def __init__(self, app, prefix):
        self.app = app
        self.inner = app.wsgi_app
        self.prefix = prefix

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == self.prefix or path.startswith(self.prefix + "/"):
            environ["SCRIPT_NAME"], environ["PATH_INFO"] = self.prefix, path[len(self.prefix):]
            return self.inner(environ, start_response)
        if environ.get("SCRIPT_NAME", "").rstrip("/") == self.prefix:
            return self.inner(environ, start_response)  # the server took the prefix off already
        environ["SCRIPT_NAME"] = self.prefix  # the 404's links lead into the portal
        return self.not_found(environ, start_response)

    def not_found(self, environ, start_response):
        """The portal's 404 page, through its whole request cycle (headers, compression), whose links
        lead into the prefix; no route is matched, so no page of the portal answers outside it."""
        app = self.app
        with app.request_context(environ) as ctx:
            ctx.request.url_rule, ctx.request.view_args = None, None
            ctx.request.routing_exception = NotFound()
            try:
                response = app.full_dispatch_request()
            except Exception as error:  # noqa: BLE001  (as Flask's wsgi_app: its 500 page)
                response = app.handle_exception(error)
            return response(environ, start_response)
