"""CSRF: every unsafe route (from app.url_map, the bearer-token API aside) refuses a missing token,
another session's token and an expired token — as a page, and for htmx as a message retargeted
to #page-messages (the user sees why, instead of a dead click).
"""
import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from portal.auth import tokens
from portal.errors import CSRF_MESSAGE
from tests import factories
from tests.abuse_helpers import record_figure

pytestmark = pytest.mark.abuse  # the fault and abuse suite (docs/TESTING.md)

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
TOKEN_IN_PAGE = re.compile(r'"X-CSRFToken": "([^"]+)"')


def _unsafe_routes(app):
    """(rule, method) of every state-changing route but the API's (bearer tokens, no cookies)."""
    return [(rule, method) for rule in app.url_map.iter_rules() if not rule.endpoint.startswith("api.")
            for method in sorted(rule.methods & UNSAFE)]


def _page_token(client, path="/cuenta/ingresar"):
    """The token the page's <body hx-headers> carries (the forms carry the same)."""
    return TOKEN_IN_PAGE.search(client.get(path).get_data(as_text=True)).group(1)


def _signed_in(app, user):
    """A browser signed in through the real form, with CSRF on."""
    browser = app.test_client()
    token = _page_token(browser)
    response = browser.post("/cuenta/ingresar", data={"email": user.email, "password": factories.PASSWORD,
                                                       "csrf_token": token})
    assert response.status_code == 303
    return browser


class _OldSigner(TimestampSigner):
    def get_timestamp(self):
        return int(time.time()) - 9 * 3600  # WTF_CSRF_TIME_LIMIT is 8 hours


def _expired_token(app, browser):
    """This very session's CSRF token, as it was signed nine hours ago."""
    with browser.session_transaction() as session:
        raw = session["csrf_token"]
    return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token", signer=_OldSigner).dumps(raw)


def _url(rule, serial, user):
    values = {"serial": serial, "token": tokens.issue(tokens.RESET_PASSWORD, user),
              "desk_id": str(user.memberships[0].desk_id), "category": "suscripciones",
              "invitation_id": "1", "user_id": str(user.id)}
    if rule.endpoint == "profile.confirm_email":
        values["token"] = tokens.issue(tokens.CHANGE_EMAIL, user, email="nuevo@empresa.mx")
    elif rule.endpoint == "auth.set_password":
        values["token"] = tokens.issue(tokens.SET_PASSWORD, user)
    url = rule.rule
    for name in rule.arguments:
        url = re.sub(rf"<(?:\w+:)?{name}>", values[name], url)
    return url


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_every_unsafe_route_refuses_missing_foreign_and_expired_tokens(app, world):
    serial = factories.service(world.a.desk).serial
    victim = _signed_in(app, world.a.user)
    other = _signed_in(app, world.b.user)
    own_token, foreign_token = _page_token(victim, "/perfil"), _page_token(other, "/perfil")
    variants = {"sin token": {}, "token de otra sesión": {"csrf_token": foreign_token},
                "token caducado": {"csrf_token": _expired_token(app, victim)}}
    refused, total, dead_clicks, accepted = 0, 0, [], []
    routes = _unsafe_routes(app)
    for rule, method in routes:
        url = _url(rule, serial, world.a.user)
        for name, data in variants.items():
            for htmx in (False, True):
                headers = {"HX-Request": "true"} if htmx else {}
                if htmx and data:  # htmx sends the token in its header, as the page's hx-headers say
                    headers["X-CSRFToken"] = data["csrf_token"]
                    form = {}
                else:
                    form = data
                response = victim.open(url, method=method, data=form, headers=headers)
                body = response.get_data(as_text=True)
                total += 1
                if response.status_code == 400 and CSRF_MESSAGE in body:
                    refused += 1
                else:
                    accepted.append((rule.rule, method, name, htmx, response.status_code))
                if htmx and (response.headers.get("HX-Retarget") != "#page-messages" or "<html" in body
                             or CSRF_MESSAGE not in body):
                    dead_clicks.append((rule.rule, name))
    record_figure(f"CSRF: {len(routes)} rutas que cambian datos × 3 variantes × (página, htmx)",
                  f"{refused}/{total} rechazadas; {len(dead_clicks)} sin mensaje visible con htmx",
                  "100% rechazadas; con htmx el mensaje va a #page-messages")
    assert accepted == [] and dead_clicks == []
    assert victim.get("/perfil").status_code == 200  # not even Cerrar sesión went through
    # Positive control: the same session's current token is accepted (no CSRF refusal).
    ok = victim.post("/perfil/datos", data={"details-name": "Ana", "details-phone": "55 1234 5678",
                                            "csrf_token": own_token})
    assert ok.status_code == 303


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_the_token_changes_at_sign_in(app, world):
    browser = app.test_client()
    before = _page_token(browser)
    browser.post("/cuenta/ingresar", data={"email": world.a.user.email, "password": factories.PASSWORD,
                                           "csrf_token": before})
    after = _page_token(browser, "/perfil")
    # A token learnt before sign-in (a planted or shared form) is no good afterwards.
    refused = browser.post("/perfil/datos", data={"details-name": "X", "details-phone": "1", "csrf_token": before})
    assert after != before
    assert refused.status_code == 400 and CSRF_MESSAGE in refused.get_data(as_text=True)
