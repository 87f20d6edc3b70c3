"""Prepaid key pages (the prepaid issue builds the flow and the list)."""
from portal.desks import desk_required
from portal.htmx import render
from portal.prepaid import bp


@bp.get("")
@desk_required
def keys():
    """"Claves prepago"."""
    return render("prepaid/keys.html")


@bp.get("/activar")
@desk_required
def activate():
    """"Activar claves de producto prepago"."""
    return render("prepaid/activate.html")
