"""Request IDs: one per request, from the proxy's X-Request-ID when it can be trusted, else new.

The ID goes back in the response's X-Request-ID header, into every log line written while the
request runs (RequestContext, a logging filter reading the context variable set here), onto the
request's audit events and, as "Folio", onto the error pages a customer can quote to support.

Only a proxy the portal trusts (PROXY_COUNT > 0: the same trust ProxyFix gives X-Forwarded-For; the
proxy sets the header itself, deploy/nginx-portal.conf) may name the ID; a client's own header is
replaced. A header that is too long or carries anything but letters, digits and - _ . : is replaced
too, so a log line cannot be split or padded through it.
"""
import contextlib
import contextvars
import logging
import re
import time
import uuid
from dataclasses import dataclass

HEADER = "X-Request-ID"
WELL_FORMED = re.compile(r"[A-Za-z0-9_.:-]{8,64}")


@dataclass
class Context:
    """What the log lines of one request (or one run of the worker or the CLI) carry."""

    request_id: str
    method: str | None = None
    route: str | None = None
    desk_id: int | None = None
    user_id: int | None = None


_current = contextvars.ContextVar("portal_request", default=None)


def new_id():
    return uuid.uuid4().hex


def chosen(header, trusted):
    """The proxy's ID when trusted and well-formed (fullmatch: no line break, no padding), else a new one."""
    if trusted and header and WELL_FORMED.fullmatch(header):
        return header
    return new_id()


def current():
    """The running request's (or job's) context, or None outside one."""
    return _current.get()


def current_id():
    context = _current.get()
    return context.request_id if context else None


@contextlib.contextmanager
def bound(request_id):
    """Run the block as one request (or job) `request_id`: its log lines carry it."""
    token = _current.set(Context(request_id))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


class RequestContext(logging.Filter):
    """Adds request_id, route, desk_id and user_id to every record a handler writes (None outside a request)."""

    def filter(self, record):
        context = _current.get()
        if getattr(record, "request_id", None):  # named by the caller (gunicorn's access line)
            return True
        record.request_id = context.request_id if context else None
        record.route = context.route if context else None
        record.desk_id = context.desk_id if context else None
        record.user_id = context.user_id if context else None
        return True


class RequestIds:
    """WSGI middleware, outermost: binds the request's ID for its whole life (the portal's own 404
    outside SCRIPT_NAME included), returns it in the X-Request-ID header, and at the end writes the
    request's log line and counts it (`finished(context, status, seconds)`)."""

    def __init__(self, app, trusted, finished):
        self.app, self.trusted, self.finished = app, trusted, finished

    def __call__(self, environ, start_response):
        request_id = chosen(environ.get("HTTP_X_REQUEST_ID"), self.trusted)
        answered = []

        def start(status, headers, exc_info=None):
            answered[:] = [status]
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"] + [(HEADER, request_id)]
            return start_response(status, headers, exc_info)

        started = time.perf_counter()
        context = Context(request_id, method=environ.get("REQUEST_METHOD"))
        token = _current.set(context)
        try:
            return self.app(environ, start)
        finally:
            status = int(answered[0].split(" ", 1)[0]) if answered else 500
            self.finished(context, status, time.perf_counter() - started)
            _current.reset(token)
