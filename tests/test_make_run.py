"""`make run PORT=5055` serves the portal there, as the README says: the real target (migrate, demo
data, outbox worker, server) on a temporary database and mail folder, stopped at the end."""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.multiprocess
ROOT = Path(__file__).resolve().parent.parent
STARTUP = 180  # seconds for venv check, migration and the demo's thousands of keys (never a measure)


def _port():
    """5055 as the README shows it, unless something on this machine already listens there."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 5055)) != 0:
            return 5055
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_run_serves_on_the_port_it_is_given(tmp_path):
    port = _port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}", "MAIL_DIR": str(tmp_path / "mail"),
           "SECRET_KEY": "make-run-de-prueba", "PYTHONUNBUFFERED": "1"}
    env.pop("PORTAL_ENV", None)
    log = (tmp_path / "make-run.log").open("w+")
    # -o: the virtualenv this test runs in is the one `make run` would install; not remade here.
    process = subprocess.Popen(["make", "-o", ".venv/.installed", "run", f"PORT={port}"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except requests.ConnectionError:
                assert process.poll() is None, f"make run terminó:\n{Path(log.name).read_text()}"
                assert time.monotonic() < deadline, f"nada escucha en {port}:\n{Path(log.name).read_text()}"
                time.sleep(0.5)
        assert health.status_code == 200 and health.json()["database"] == "ok"
        page = requests.get(f"http://127.0.0.1:{port}/cuenta/ingresar", timeout=5)
        assert page.status_code == 200 and "Iniciar sesión" in page.text
        printed = Path(log.name).read_text()
        assert f"http://127.0.0.1:{port}/cuenta/ingresar" in printed  # the demo's sign-in address
        assert f"Escritorio de Servicios en http://127.0.0.1:{port}" in printed
        assert "cliente@demo.mx" in printed and "distribuidor@demo.mx" in printed
    finally:
        _stop(process)
        log.close()


def _stop(process):
    """End make and what it started (the server, the outbox worker): its own process group."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:
        return  # it had already ended
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
