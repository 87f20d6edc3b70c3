"""LOG_FORMAT=json: one JSON object a line with the request's context, never an e-mail or a query."""
import json
import logging

import pytest

from portal.logs import PortalHandler
from tests import factories


@pytest.fixture
def json_logs(capsys):
    """The portal's own stderr handler in JSON (as LOG_FORMAT=json sets it up); removed afterwards."""
    yield lambda: [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, PortalHandler)]:
        root.removeHandler(handler)


@pytest.mark.app_config(LOG_FORMAT="json", LOG_REQUESTS=True)
def test_json_lines_carry_the_request_s_context_and_no_address_or_query(client, world, login, json_logs):
    login(world.a.user)
    json_logs()
    response = client.get(f"/claves-prepago?q=ABCD-EFGH&correo={world.a.user.email}")
    assert response.status_code == 200
    lines = json_logs()
    request_line = [line for line in lines if line["logger"] == "portal.request"]
    assert len(request_line) == 1
    line = request_line[0]
    assert {"time", "level", "logger", "request_id", "route", "status", "duration_ms", "desk_id", "user_id",
            "message"} <= set(line)
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert (line["route"], line["status"], line["level"]) == ("/claves-prepago", 200, "INFO")
    assert (line["user_id"], line["desk_id"]) == (world.a.user.id, world.a.desk.id)
    text = "\n".join(json.dumps(line) for line in lines)
    assert world.a.user.email not in text and "ABCD-EFGH" not in text and "correo=" not in text


@pytest.mark.app_config(LOG_FORMAT="json", LOG_REQUESTS=True)
def test_a_failed_sign_in_is_logged_without_the_address_tried(client, world, json_logs):
    json_logs()
    client.post("/cuenta/ingresar", data={"email": world.a.user.email, "password": "equivocada-" + factories.PASSWORD})
    lines = json_logs()
    assert [line["route"] for line in lines if line["logger"] == "portal.request"] == ["/cuenta/ingresar"]
    assert world.a.user.email not in json.dumps(lines)
