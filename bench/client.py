"""HTTP without a browser: a session's cookies over http.client, and the portal's real sign-in form."""
import http.client
import re
import time
import urllib.parse

USER_AGENT = "portal-bench"  # the same for the sign-in and for wrk: session protection sees one client


class Browser:
    """Cookies and requests over http.client; redirects are not followed (their status is the answer)."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}

    def request(self, method, path, headers=None, form=None, stream=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        headers = {"User-Agent": USER_AGENT, **(headers or {})}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        started = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _, val = pair.partition("=")
                if val:
                    self.cookies[key.strip()] = val.strip()
                else:
                    self.cookies.pop(key.strip(), None)
        data = stream(response) if stream else response.read()
        elapsed = time.perf_counter() - started
        conn.close()
        return response.status, dict(response.getheaders()), data, elapsed

    def cookie_header(self):
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def csrf_from(self, path):
        """The CSRF token a page carries (form field or the body's hx-headers)."""
        _status, _headers, body, _ = self.request("GET", path)
        match = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"', body)
        if not match:
            raise RuntimeError(f"{path} no trae un token CSRF")
        return (match.group(1) or match.group(2)).decode()

    def sign_in(self, email, password):
        """A real sign-in: fetch the form, post it with its token; returns the CSRF token of the session."""
        token = self.csrf_from("/cuenta/ingresar")
        status, _headers, body, _ = self.request("POST", "/cuenta/ingresar", form={
            "csrf_token": token, "email": email, "password": password, "next": ""})
        if status not in (302, 303):
            raise RuntimeError(f"no se pudo iniciar sesión como {email}: HTTP {status} {body[:300]!r}")
        return self.csrf_from("/servicios/suscripciones")
