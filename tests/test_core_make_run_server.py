"""`make run PORT=5055` serves the portal there, as the README says: the real target (migrate, demo
data, outbox worker, server) on a temporary database and mail folder, stopped at the end."""
import os
import re
import signal
import socket
import subprocess
import time
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import urlsplit

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
    env.pop("PORTAL_URL", None)  # development's default is what is under test
    log = (tmp_path / "make-run.log").open("w+")
    # -o: the virtualenv this test runs in is the one `make run` would install; not remade here.
    installed = f"{env.get('VENV', '.venv')}/.installed"
    process = subprocess.Popen(["make", "-o", installed, "run", f"PORT={port}"], cwd=ROOT, env=env, stdout=log,
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
        assert health.status_code == 200
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)  # migrated by make run
        assert ready.status_code == 200 and ready.json()["database"] == ready.json()["migrations"] == "ok"
        page = requests.get(f"http://127.0.0.1:{port}/cuenta/ingresar", timeout=5)
        assert page.status_code == 200 and "Iniciar sesión" in page.text
        printed = Path(log.name).read_text()
        assert f"http://127.0.0.1:{port}/cuenta/ingresar" in printed  # the demo's sign-in address
        assert f"Escritorio de Servicios en http://127.0.0.1:{port}" in printed
        assert "cliente@demo.mx" in printed and "distribuidor@demo.mx" in printed
        _reset_link_leads_back_to_the_port(port, tmp_path / "mail")
    finally:
        _stop(process)
        log.close()


def _reset_link_leads_back_to_the_port(port, mail_dir):
    """Ask for a reset of the demo customer's password over HTTP: the worker writes the mail as an
    .eml file, every portal link of every mail written so far (the alerts' too) is at `port`, and
    the reset link opens its form."""
    served = f"http://127.0.0.1:{port}"
    session = requests.Session()
    form = session.get(f"{served}/cuenta/recuperar", timeout=5).text
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    asked = session.post(f"{served}/cuenta/recuperar", data={"csrf_token": csrf, "email": "cliente@demo.mx"},
                         timeout=5, allow_redirects=False)
    assert asked.status_code == 303, asked.text
    deadline = time.monotonic() + 60
    while not list(mail_dir.glob("*-password_reset.eml")):
        assert time.monotonic() < deadline, f"sin correo de restablecimiento en {sorted(mail_dir.glob('*'))}"
        time.sleep(0.5)
    links = {}
    for path in sorted(mail_dir.glob("*.eml")):
        mail = message_from_bytes(path.read_bytes(), policy=default_policy)
        text = mail.get_body(("plain",)).get_content()
        links[path.name] = re.findall(r"https?://[^\s<>\"]+", text)
    store = "https://www.aspel.com.mx/tienda"  # STORE_URL's default: the alerts' "Comprar ahora" leaves the portal
    elsewhere = {name: [url for url in urls if not url.startswith((served + "/", store))] for name, urls in links.items()}
    assert not any(elsewhere.values()), elsewhere
    [reset_mail] = [name for name in links if name.endswith("-password_reset.eml")]
    [reset] = [url for url in links[reset_mail] if urlsplit(url).path.startswith("/cuenta/restablecer/")]
    page = session.get(reset, timeout=5)
    assert page.status_code == 200 and "Nueva contraseña" in page.text, page.text


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
