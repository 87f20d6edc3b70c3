"""The grid's HTTP face: the page, its htmx fragment, the print view or the CSV; and "Columnas"
remembered per user and grid. The only module of the grid that imports Flask.
"""
from flask import Response, current_app, make_response, redirect, request, stream_with_context, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import MultiDict

from portal import clock
from portal.extensions import db
from portal.grid.page import Grid, list_url
from portal.htmx import is_htmx, render
from portal.models import GridPreference


def grid_response(grid: Grid, template, block, scope, *, args=None, cells=None, context=None):
    """Render `template` (for htmx its `block`) with `grid` = the page and `context`.

    `args`: the query string to obey (default request.args); `cells`: this request's values the
    columns' `html` take (Column.html_args); ?formato=csv streams the CSV, ?formato=imprimir is
    the print view (the whole page, even for htmx). A POST is "Columnas": its fields over `args`,
    the choice kept for the user, then the list (htmx) or a 303 to it; a choice with an unknown
    column, or none, keeps nothing and answers 422 with the list and its notice.
    """
    args = request.args if args is None else args
    posted = request.method == "POST"
    if posted:
        args = _with_posted(args, request.form)
    state = grid.parse(args, saved_columns=columns_saved_for(current_user, grid.name))
    status = 200
    if posted:
        # Only "Columnas" posts: a GET with cols= shows those columns, a POST also keeps them.
        if state.columns_refused:
            status = 422  # nothing kept; the list says why (its notices)
        elif state.columns_explicit:
            try:
                if remember_columns(current_user.id, grid.name, state.columns):
                    db.session.commit()
            except SQLAlchemyError:
                # Another tab saved first, or SQLite was busy: the choice still shows, and is kept next time.
                db.session.rollback()
        if status == 200 and not is_htmx():
            return redirect(list_url(_action(), state), code=303)
    if state.export:
        filename = f"{grid.name}-{clock.today(current_app.config['TIMEZONE']).isoformat()}.csv"
        # The body is sent after the view returns: the export holds its own connection, and runs
        # inside this request's contexts (columns read the app's settings, e.g. its time zone).
        return Response(stream_with_context(grid.export(state, engine=db.engine, **scope)), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                 "Cache-Control": "no-store, no-cache"})  # as pages (portal.security)
    page = grid.fetch(state, cells=cells, **scope)
    page.action = _action()
    page.printed_at = clock.now()
    # A print view opens on its own: never swapped in.
    page.fragment = is_htmx() and not state.printing
    response = make_response(render(template, block=block if page.fragment else None, grid=page, **(context or {})),
                             status)
    if page.fragment:
        # The address bar shows the short, bookmarkable URL of what is on screen.
        response.headers["HX-Push-Url"] = page.link()
    return response


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

def column_choices_of(user_id):
    """Every grid's saved columns of a user as one text, "grid=key,key;grid=key": a scalar
    subquery for the statement that loads the signed-in user (portal.desks.load_user)."""
    return (select(func.aggregate_strings(GridPreference.grid + "=" + GridPreference.columns, ";"))
            .where(GridPreference.user_id == user_id).scalar_subquery())


def parse_column_choices(text):
    """{grid: "key,key"} from column_choices_of()'s text (grid names and keys never hold = or ;)."""
    return dict(item.split("=", 1) for item in (text or "").split(";") if "=" in item)


def columns_saved_for(signed_in, grid_name):
    """The saved columns of a grid for the signed-in user: from those read with the user
    (`signed_in.column_choices`, parse_column_choices()'s), else asked now."""
    choices = signed_in.column_choices
    if choices is None:
        return saved_columns(signed_in.id, grid_name)
    value = choices.get(grid_name)
    return value.split(",") if value else None


def saved_columns(user_id, grid_name):
    """The column keys a user last chose in a grid, or None."""
    value = db.session.scalar(select(GridPreference.columns).where(
        GridPreference.user_id == user_id, GridPreference.grid == grid_name))
    return value.split(",") if value else None


def remember_columns(user_id, grid_name, keys):
    """Keep the user's column choice for a grid; True if it changed (the caller commits)."""
    value = ",".join(keys)[:500]
    preference = db.session.scalar(select(GridPreference).where(
        GridPreference.user_id == user_id, GridPreference.grid == grid_name))
    if preference is not None:
        if preference.columns == value:
            return False
        preference.columns = value
        return True
    db.session.add(GridPreference(user_id=user_id, grid=grid_name, columns=value))
    return True
