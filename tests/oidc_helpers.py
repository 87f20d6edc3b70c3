"""A real OpenID Provider for the tests: panva's oidc-provider (tests/oidc_provider/), started on a
free loopback port with the clients, users and keys a test gives, and stopped by its pid.

Node and the provider's node_modules (`npm ci` in tests/oidc_provider/, which .ci/run does) missing:
a failure in CI, a skip elsewhere.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from joserfc.jwk import RSAKey

HERE = Path(__file__).resolve().parent / "oidc_provider"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PASSWORD = "clave-del-proveedor"


def new_key(kid=None):
    """A fresh RSA signing key (private JWK as a dict)."""
    key = RSAKey.generate_key(2048, parameters={"kid": kid or uuid.uuid4().hex[:12], "use": "sig", "alg": "RS256"},
                              private=True)
    return key


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_node():
    """The node binary and the provider's modules; missing in CI is a failure, locally a skip."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "Node.js no está instalado (se necesita para el proveedor OpenID de pruebas)"
    elif not (HERE / "node_modules" / "oidc-provider").is_dir():
        problem = f"Falta `npm ci` en {HERE} (oidc-provider)"
    if problem:
        if IN_CI:
            pytest.fail(problem)
        pytest.skip(problem)
    return node


def user(login, *, email=None, email_verified=True, name=None, groups=(), amr=("pwd",), sub=None):
    """A provider account: signs in with `login` and PASSWORD."""
    entry = {"password": PASSWORD, "email": email or f"{login}@empresa.example", "email_verified": email_verified,
             "name": name or login.capitalize(), "groups": list(groups), "amr": list(amr)}
    if sub:
        entry["sub"] = sub
    return entry


class OpenIDProvider:
    """One oidc-provider process. `users`: {login: user(...)}; `clients`: its registered clients.
    `host`: the issuer's host name; "localhost" makes it another *site* than a portal at 127.0.0.1
    (browsers count them apart), so the return from it is a cross-site navigation."""

    def __init__(self, tmp_dir, users=None, host="127.0.0.1"):
        self.node = require_node()
        self.port = _free_port()
        self.issuer = f"http://{host}:{self.port}"
        self.users = dict(users or {})
        self.clients = []
        self.keys = [new_key()]
        self.config_path = Path(tmp_dir) / f"oidc-{self.port}.json"
        self.process = None

    def add_client(self, redirect_uri, post_logout_redirect_uri=None, client_id=None):
        """Register a confidential client; returns (client_id, client_secret)."""
        client_id = client_id or "portal-" + uuid.uuid4().hex[:8]
        secret = "secreto-" + uuid.uuid4().hex
        self.clients.append({
            "client_id": client_id, "client_secret": secret, "redirect_uris": [redirect_uri],
            "post_logout_redirect_uris": [post_logout_redirect_uri or redirect_uri.rsplit("/cuenta/", 1)[0] + "/cuenta/ingresar"],
            "grant_types": ["authorization_code"], "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
        })
        return client_id, secret

    def _write(self):
        self.config_path.write_text(json.dumps({
            "port": self.port, "issuer": self.issuer, "clients": self.clients, "users": self.users,
            "keys": [key.as_dict(private=True) for key in self.keys], "cookie_keys": ["galleta-" + uuid.uuid4().hex],
        }))

    def start(self):
        self._write()
        self.process = subprocess.Popen([self.node, str(HERE / "provider.mjs"), str(self.config_path)],
                                        cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(self.issuer + "/.well-known/openid-configuration", timeout=1) as answer:
                    self.discovery = json.load(answer)
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("El proveedor OpenID de pruebas no arrancó: "
                                       + (self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""))
                time.sleep(0.1)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def restart(self):
        """Stop and start again with the current clients, users and keys (same port, same issuer)."""
        self.stop()
        return self.start()

    def rotate_keys(self):
        """A new signing key replaces the old one (the old kid is gone from the JWKS)."""
        self.keys = [new_key()]
        return self.restart()


def provider_sign_in(location, login, *, portal_url, password=PASSWORD, session=None):
    """A plain HTTP client through the provider's pages, from the authorization URL the portal sent
    the browser to, until the provider sends it back to the portal: that URL (code and state)."""
    import re
    from urllib.parse import urljoin

    import requests

    http = session or requests.Session()
    url = location
    for _ in range(12):
        if url.startswith(portal_url):
            return url
        answer = http.get(url, allow_redirects=False, timeout=10)
        if answer.status_code in (302, 303):
            url = urljoin(url, answer.headers["Location"])
            continue
        form = re.search(r'<form method="post" action="([^"]+)"', answer.text)
        assert answer.status_code == 200 and form, answer.text[:500]
        answer = http.post(urljoin(url, form.group(1)), data={"login": login, "password": password},
                           allow_redirects=False, timeout=10)
        assert answer.status_code in (302, 303), answer.text[:500]
        url = urljoin(url, answer.headers["Location"])
    raise AssertionError(f"el proveedor no regresó al portal: {url}")
