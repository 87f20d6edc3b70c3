"""The category pages of Mis Servicios."""
from flask import abort
from sqlalchemy import select

from portal.desks import current_desk, desk_required
from portal.extensions import db
from portal.htmx import render
from portal.models import Service
from portal.models.services import CATEGORIES
from portal.services import bp

TITLES = {
    "servidor-virtual": "Servidor virtual",
    "suscripciones": "Sistemas en Suscripción",
    "licenciamiento": "Sistemas en Licenciamiento",
    "espacio": "Espacio",
    "polizas": "Mis Pólizas",
    "sellado-cfdi": "Sellado CFDI",
    "cursos": "Cursos",
}


@bp.get("/<category>")
@desk_required
def category(category):
    """The desk's services of one category (the grid issue replaces this plain list)."""
    if category not in CATEGORIES:
        abort(404)
    rows = db.session.scalars(
        select(Service).where(Service.desk_id == current_desk().id, Service.category == category)
        .order_by(Service.activated_on.desc(), Service.id).limit(50)
    ).all()
    return render("services/category.html", category=category, title=TITLES[category], rows=rows)
