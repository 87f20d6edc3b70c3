"""Mi perfil > Datos generales (the accounts issue builds the editing)."""
from flask_login import login_required

from portal.htmx import render
from portal.profile import bp


@bp.get("")
@login_required
def general():
    """"Mi perfil > Datos generales"."""
    return render("profile/general.html")
