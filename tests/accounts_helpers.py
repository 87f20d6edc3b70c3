"""Helpers for the accounts tests: a valid sign-up, links out of e-mails, a second process."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from portal.extensions import db

from tests.conftest import body_of

ROOT = Path(__file__).resolve().parent.parent
NEW_PASSWORD = "Nube-de-marzo-42"


def sign_up_data(**changes):
    """A valid "Crear cuenta" form; keyword arguments replace fields (None removes one)."""
    data = {
        "razon_social": "Ferretería López S.A. de C.V.",
        "rfc": "fel-950612-k21",
        "name": "Ana López Ruiz",
        "phone": "55 1234 5678",
        "email": "ana.lopez@ferreteria-lopez.mx",
        "password": "Martillo-azul-2026",
        "password_confirm": "Martillo-azul-2026",
        "accept_terms": "y",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def mail_to(messages, address):
    """The one message delivered to `address`."""
    found = [m for m in messages if address.lower() in [t.lower() for t in m["to"]]]
    assert len(found) == 1, [(m["to"], m["message"]["Subject"]) for m in messages]
    return found[0]["message"]


def link_in(message, path_start):
    """The portal path (with query) of the first link in the text body that starts with `path_start`."""
    text = body_of(message)
    for url in re.findall(r"https?://\S+", text):
        parts = urlsplit(url)
        if parts.path.startswith(path_start):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    raise AssertionError(f"sin enlace {path_start} en:\n{text}")


def sign_in_from_another_process(config, email, password, attempts, ip):
    """POST the sign-in form `attempts` times from a second, separate app process; the statuses."""
    payload = json.dumps({"config": config, "email": email, "password": password, "attempts": attempts, "ip": ip})
    result = subprocess.run([sys.executable, "-m", "tests.accounts_second_instance", payload], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def mailbox(deliver):
    """deliver() with the test's own transaction ended before and after. The test client shares
    the test's session, and on SQLite a read made by the test right after a POST opened BEGIN
    IMMEDIATE (it holds the write lock the outbox worker needs); a snapshot kept across the
    worker's commit would make the next write fail with "database is locked"."""

    def _deliver():
        db.session.rollback()
        messages = deliver()
        db.session.rollback()
        return messages

    return _deliver
