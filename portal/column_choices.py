"""The columns each user chose to see in each grid ("Columnas"), kept per user and grid.

Read with the signed-in user (portal.desks.load_user puts column_choices_of() in the statement
that loads them), so a grid's page need not ask again.
"""
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import GridPreference


def column_choices_of(user_id):
    """Every grid's saved columns of a user as one text, "grid=key,key;grid=key": a scalar
    subquery for the statement that loads the signed-in user (portal.desks.load_user)."""
    return (select(func.aggregate_strings(GridPreference.grid + "=" + GridPreference.columns, ";"))
            .where(GridPreference.user_id == user_id).scalar_subquery())


def parse_column_choices(text):
    """{grid: "key,key"} from column_choices_of()'s text (grid names and keys never hold = or ;)."""
    return dict(item.split("=", 1) for item in (text or "").split(";") if "=" in item)


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
