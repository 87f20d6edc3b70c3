"""Trust, round three (issue 31): the findings of the third assessment, each reproduced.

Every test fails on the build the assessment ran against; the figures table gains a row for each.
"""
import base64
import json

from portal.extensions import db
from tests import factories
from tests.abuse_helpers import record_figure
from tests.api_support import ApiClient, token

HUGE = "9" * 4301  # one digit past what int() reads at all


# --- 5: every number read with a bound before int() ---------------------------------------------

def test_numbers_of_4301_digits_are_refused_in_spanish_not_a_500(client, world, login):
    factories.service(world.a.desk)
    login(world.a.user)
    answers = {
        "Notificaciones threshold": client.post("/perfil/notificaciones", data={
            "payments": "y", "low_stamps": "y", "threshold": HUGE}),
        "Actividad page": client.get(f"/perfil/actividad?page={HUGE}"),
        "aviso claves": client.get(f"/claves-prepago/activar/aviso?claves={HUGE}"),
        "Claves resaltar": client.get(f"/claves-prepago?resaltar={HUGE}"),
        "cuadrícula page": client.get(f"/servicios/suscripciones?page={HUGE}&per_page={HUGE}"),
        "cuadrícula número": client.get(f"/servicios/suscripciones?usuarios_min={HUGE}"),
        "escritorio": client.post("/escritorio", data={"desk_id": HUGE}),
    }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    record_figure("confianza 3: números de 4,301 dígitos en 7 parámetros", statuses, "ningún 5xx")
    assert statuses == {"Notificaciones threshold": 422, "Actividad page": 400, "aviso claves": 404,
                        "Claves resaltar": 200, "cuadrícula page": 200, "cuadrícula número": 200, "escritorio": 400}
    assert "Captura un número entero de timbres" in answers["Notificaciones threshold"].get_data(as_text=True)
    assert "La página solicitada no es válida." in answers["Actividad page"].get_data(as_text=True)
    grid = answers["cuadrícula page"].get_data(as_text=True)
    assert "no es válida; se muestra la página 1." in grid and "no es un número de filas por página válido" in grid
    assert "Selecciona un escritorio válido." in answers["escritorio"].get_data(as_text=True)


# --- 6: the API's cursor validated --------------------------------------------------------------

def _cursor(row_id):
    raw = json.dumps(["2026-01-10T14:00:00+00:00", row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_cursor_past_integer_is_a_422_json_on_each_database(app, client):
    api = ApiClient(client, token())
    answers = {row_id: api.get(f"/desks?cursor={_cursor(row_id)}") for row_id in (2**31, 2**63, 0, -1)}
    record_figure("confianza 3: cursor de la API con id 2³¹, 2⁶³, 0, -1",
                  {n: r.status_code for n, r in answers.items()}, "422 JSON")
    for answer in answers.values():
        assert answer.status_code == 422
        assert "cursor" in answer.json["error"]["fields"]
    assert api.get(f"/desks?cursor={_cursor(2**31 - 1)}").status_code == 200
    db.session.rollback()
