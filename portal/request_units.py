"""The unit of work each request runs in (portal.units), named before the view runs.

A view that only reads when asked with GET or HEAD says so with @reads_only; other GET and HEAD
requests run as one deferred transaction, and every other method as a writing one. The unit is
chosen before any statement of the request (the signed-in user is read in it too), whatever the
order of the view's decorators.
"""
from flask import request

from portal.extensions import db
from portal.units import Work, enter, leave_all

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def reads_only(view):
    """Mark a view whose GET and HEAD only read (a list, a history): they run as Work.READS."""
    view.reads_only = True
    return view


def work_for(view, method):
    """The unit of work of a request to `view` (None: no route matched) with `method`."""
    if method not in SAFE_METHODS:
        return Work.WRITES
    if method != "OPTIONS" and getattr(view, "reads_only", False):
        return Work.READS
    return Work.TRANSACTION


def init_app(app):
    @app.before_request
    def _begin_unit():
        enter(db.session, work_for(app.view_functions.get(request.endpoint), request.method))

    @app.teardown_request
    def _end_unit(_error=None):
        leave_all()
