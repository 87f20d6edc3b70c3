"""A backend's run as the measuring code sees it (Context), and a route made into the requests it sends.

request_items fills a route's path and form for each pool value; write_script turns them, with the
session's cookies and headers, into a wrk script.
"""
import os
import tempfile
import urllib.parse
from dataclasses import dataclass

from bench.client import USER_AGENT, Browser
from bench.common import PASSWORD, USERS
from bench.pools import Pools
from bench.routes import target
from bench.server import Server
from bench.wrk import lua_script


@dataclass
class Context:
    server: Server
    sessions: dict
    tokens: dict
    pools: Pools
    values: dict
    scratch: str
    reference_script: str = ""  # /healthz, before each route's run
    hello: Server | None = None  # the floor's own gunicorn (bench/hello.py)
    hello_script: str = ""


def session_for(ctx, route):
    """The signed-in user's session, or a new anonymous one (each sign-in run starts signed out)."""
    return ctx.sessions[route.user] if route.user else Browser(ctx.server.port)


def resolve_headers(route, ctx, session):
    token = ctx.tokens.get(route.user) if route.user else None
    return {k: v.replace("{csrf}", token or "") for k, v in route.headers.items()}


def request_items(ctx, route, session, values):
    """[(path, body)] for wrk: one per pool value ({"serial": …} or {"code": …})."""
    token = ctx.tokens.get(route.user) if route.user else None
    email = USERS["big"]
    if route.user is None and route.form is not None:
        token = session.csrf_from("/cuenta/ingresar")  # an anonymous session's token, for the sign-in form
    items = []
    for value in values:
        fills = {"csrf": token or "", "email": email, "password": PASSWORD, **value}
        path = target(route, ctx.values).replace("{serial}", fills.get("serial", ""))
        body = None
        if route.form is not None:
            body = urllib.parse.urlencode({k: v.format(**fills) for k, v in route.form.items()})
        items.append((path, body))
    return items


def write_script(ctx, route, session, items, marker=None):
    headers = {"User-Agent": USER_AGENT, **resolve_headers(route, ctx, session)}
    if session is not None and session.cookies:
        headers["Cookie"] = session.cookie_header()
    if route.form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    fd, path = tempfile.mkstemp(suffix=".lua", dir=ctx.scratch)
    with os.fdopen(fd, "w") as f:
        f.write(lua_script(route.method, items, headers, marker=marker))
    return path
