"""One template, two renderings: the page, or for htmx the block it swaps."""
from flask import render_template, request
from jinja2_fragments.flask import render_block


def is_htmx():
    """An htmx swap request: not a history restore and not a boosted navigation."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
        and request.headers.get("HX-Boosted") != "true"
    )


def render(template, block=None, **context):
    """The named block for an htmx request, the whole page otherwise."""
    if block and is_htmx():
        return render_block(template, block, **context)
    return render_template(template, **context)


def init_app(app):
    app.jinja_env.globals["is_htmx"] = is_htmx
    @app.after_request
    def _vary_on_htmx(response):
        # The same URL answers a page or a fragment: caches must keep them apart.
        if response.mimetype == "text/html":
            response.vary.add("HX-Request")
        return response


def redirect(location):
    """303 to `location`; for htmx a whole-page navigation there (HX-Redirect), not a swap."""
    from flask import make_response
    from flask import redirect as flask_redirect

    if request.headers.get("HX-Request") == "true":
        response = make_response("", 200)
        response.headers["HX-Redirect"] = location
        return response
    return flask_redirect(location, code=303)
