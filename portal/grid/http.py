"""The grid's HTTP face: the page, its htmx fragment, the print view or the CSV; and "Columnas"
remembered per user and grid. The only module of the grid that imports Flask.
"""
from dataclasses import dataclass, field

from flask import Response, current_app, make_response, redirect, request, stream_with_context, url_for
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import MultiDict

from portal import clock
from portal.column_choices import remember_columns, saved_columns
from portal.extensions import db
from portal.grid.page import Grid, list_url
from portal.htmx import is_htmx, render


@dataclass(frozen=True)
class GridTemplate:
    """Where a grid's page is drawn: the template, its block that htmx swaps, what else the template
    shows (`context`), and this request's values the columns' `html` take (`cells`, Column.html_args)."""
    name: str
    block: str
    context: dict = field(default_factory=dict)
    cells: dict = field(default_factory=dict)


def grid_response(grid: Grid, scope, template: GridTemplate, args=None):
    """Render `template` (for htmx its block) with `grid` = the page of `scope`'s list.

    `args`: the query string to obey (default request.args); ?formato=csv streams the CSV, ?formato=imprimir is
    the print view (the whole page, even for htmx). A POST is "Columnas": its fields over `args`,
    the choice kept for the user, then the list (htmx) or a 303 to it; a choice with an unknown
    column, or none, keeps nothing and answers 422 with the list and its notice.
    """
    args = request.args if args is None else args
    posted = request.method == "POST"
    if posted:
        args = _with_posted(args, request.form)
    state = grid.parse(args, saved_columns=columns_saved_for(current_user, grid.name))
    status = _keep_columns(grid, state) if posted else 200
    if posted and status == 200 and not is_htmx():
        return redirect(list_url(_action(), state), code=303)
    page = grid.draw(state, cells=template.cells, **scope)
    if state.export:
        return _csv_response(grid, page)  # the CSV's text, a chunk at a time
    page.action = _action()
    page.printed_at = clock.now()
    # A print view opens on its own: never swapped in.
    page.fragment = is_htmx() and not state.printing
    response = make_response(render(template.name, block=template.block if page.fragment else None, grid=page,
                                    **template.context), status)
    if page.fragment:
        # The address bar shows the short, bookmarkable URL of what is on screen.
        response.headers["HX-Push-Url"] = page.link()
    return response


def _keep_columns(grid, state):
    """"Columnas" posted: keep the choice for the user (200), or keep nothing when it names an
    unknown column or none (422; the list says why, in its notices). A GET with cols= only shows them."""
    if state.columns_refused:
        return 422
    if state.columns_explicit:
        try:
            if remember_columns(current_user.id, grid.name, state.columns):
                db.session.commit()
        except SQLAlchemyError:
            # Another tab saved first, or SQLite was busy: the choice still shows, and is kept next time.
            db.session.rollback()
    return 200


def _csv_response(grid, text):
    filename = f"{grid.name}-{clock.today(current_app.config['TIMEZONE']).isoformat()}.csv"
    # The body is sent after the view returns: the CSV holds its own connection, and runs inside
    # this request's contexts (columns read the app's settings, e.g. its time zone).
    return Response(stream_with_context(text), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store, no-cache"})  # as pages (portal.security)


def _action():
    """The list's own path, which its form and links go to."""
    return url_for(request.endpoint, **(request.view_args or {}))


def _with_posted(args, form):
    """The query string with the posted fields (the toolbar's, sent along by htmx) over it."""
    merged = MultiDict(args)
    for key in form:
        if key != "csrf_token":
            merged.setlist(key, form.getlist(key))
    return merged


# --- "Columnas" remembered per user and grid -------------------------------------------------

def columns_saved_for(signed_in, grid_name):
    """The saved columns of a grid for the signed-in user: from those read with the user
    (`signed_in.column_choices`, parse_column_choices()'s), else asked now."""
    choices = signed_in.column_choices
    if choices is None:
        return saved_columns(signed_in.id, grid_name)
    value = choices.get(grid_name)
    return value.split(",") if value else None
