"""The category pages of Mis Servicios: one grid each."""
from flask import abort, current_app

from portal import clock
from portal.alerts.forecast import forecast
from portal.desks import current_desk, desk_required
from portal.grid import GridTemplate, grid_response
from portal.htmx import is_htmx
from portal.request_units import reads_only
from portal.services import bp
from portal.services.grids import GRIDS
from portal.services.stamps import stamp_balance

TITLES = {
    "servidor-virtual": "Servidor virtual",
    "suscripciones": "Sistemas en Suscripción",
    "licenciamiento": "Sistemas en Licenciamiento",
    "espacio": "Espacio",
    "polizas": "Mis Pólizas",
    "sellado-cfdi": "Sellado CFDI",
    "cursos": "Cursos",
}
INTROS = {
    "suscripciones": "Administrar tus sistemas de pago mensual.",
    "licenciamiento": "Administra tus sistemas comprados electrónicamente.",
    "servidor-virtual": "Tus servidores en la nube con los sistemas instalados.",
    "espacio": "El espacio de respaldo en línea contratado.",
    "polizas": "Tus pólizas de soporte y actualización.",
    "sellado-cfdi": "Tus paquetes de timbres para sellar CFDI.",
    "cursos": "Los cursos a los que estás inscrito.",
}


@bp.route("/<category>", methods=["GET", "POST"])  # POST: "Columnas" saved
@reads_only
@desk_required
def category(category):
    """One category as a grid: the page, its htmx fragment, or its CSV with ?formato=csv."""
    grid = GRIDS.get(category)
    if grid is None:
        abort(404)
    desk = current_desk()
    # The balance sits outside the swapped block: a fragment does not need it.
    balance = pace = None
    if category == "sellado-cfdi" and not is_htmx():
        balance = stamp_balance(desk.id)
        tz_name = current_app.config["TIMEZONE"]
        pace = forecast(desk.id, clock.today(tz_name), tz_name)
    return grid_response(grid, {"desk_id": desk.id}, GridTemplate(
        "services/category.html", "services_grid",
        context={"category": category, "title": TITLES[category], "intro": INTROS[category],
                 "balance": balance, "forecast": pace}))
