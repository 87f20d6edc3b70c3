"""Every route of the portal × every role of a desk: what Propietario, Usuario and Consulta may do
in their desk, and what the owner of another desk gets with this desk's ids.

The routes come from app.url_map: a route added tomorrow fails test_every_route_has_an_entry until
it gets one here (the statuses each role gets, or why roles do not apply to it).
"""

from portal.members import links
from tests import factories
from tests.desk_users_helpers import invite, staff

ROLES = ("viewer", "outsider", "member", "owner")  # the refused first: a refusal changes nothing
OK = frozenset({200, 303})
FORM = frozenset({200, 303, 409, 422})  # allowed: done, or the form's own refusal (never 403/404)


def same(statuses):
    return dict.fromkeys(ROLES, frozenset(statuses))


READ = same({200})  # a list of the active desk: every role sees it (the outsider, its own desk)
READ_A = {"viewer": {200}, "member": {200}, "owner": {200}, "outsider": {404}}  # by an id of desk A
CHANGE_OWN = {"viewer": {403}, "member": FORM, "owner": FORM, "outsider": FORM}  # in the active desk
CHANGE_A = {"viewer": {403}, "member": OK, "owner": OK, "outsider": {404}}
MANAGE_OWN = {"viewer": {403}, "member": {403}, "owner": OK, "outsider": OK}
MANAGE_A = {"viewer": {403}, "member": {403}, "owner": OK, "outsider": {404}}
PUBLIC = "public or signed-out pages: no desk, the same for everyone (tests/test_accounts_*.py, test_core_*)"
ACCOUNT = "the signed-in account's own settings, the same for every role (tests/test_profile_views.py, test_two_factor_*)"
API = "the back office's bearer-token API: scopes, not desk roles (tests/test_api_views.py)"

MATRIX = {
    ("core.home", "GET"): same({302}),
    ("core.switch_desk", "POST"): {**same({303}), "outsider": frozenset({404})},
    ("core.privacy", "GET"): PUBLIC, ("core.favicon", "GET"): PUBLIC, ("core.healthz", "GET"): PUBLIC,
    ("core.readyz", "GET"): PUBLIC,
    ("core.prometheus_metrics", "GET"): "the scrape: a token or an address, never a desk (tests/test_ops_metrics_views.py)",
    ("auth.sso_start", "GET"): PUBLIC, ("auth.sso_return", "GET"): PUBLIC,
    ("static", "GET"): PUBLIC, ("assets.asset", "GET"): PUBLIC,
    ("services.category", "GET"): READ,
    ("services.category", "POST"): same({303}),  # "Columnas": the user's own choice
    ("cda.history", "GET"): READ_A,
    ("cda.resend", "POST"): CHANGE_A,
    ("prepaid.keys", "GET"): READ,
    ("prepaid.keys", "POST"): same({303}),
    ("prepaid.license_text", "GET"): READ,
    ("prepaid.activate", "GET"): CHANGE_OWN,
    ("prepaid.validate", "POST"): CHANGE_OWN,
    ("prepaid.confirmation", "GET"): CHANGE_OWN,
    ("prepaid.confirm", "POST"): CHANGE_OWN,
    # The "Aviso" names the keys just confirmed: none here, so not found, but never shown to Consulta.
    ("prepaid.notice", "GET"): {**same({404}), "viewer": frozenset({403})},
    ("profile.desk_two_factor", "POST"): {"viewer": {403}, "member": {403}, "owner": FORM, "outsider": {404}},
    ("members.users", "GET"): READ,
    ("members.users", "POST"): same({303}),
    ("members.invite", "POST"): MANAGE_OWN,
    ("members.resend_invitation", "POST"): MANAGE_A,
    ("members.withdraw_invitation", "POST"): MANAGE_A,
    ("members.change_role", "POST"): MANAGE_A,
    ("members.remove", "POST"): MANAGE_A,
    ("members.ask_handover", "POST"): MANAGE_A,
    # The invitation is for an address none of them has: refused to every signed-in account.
    ("members.invitation", "GET"): same({403}),
    ("members.invitation", "POST"): same({403}),
    # The hand-over link the owner sent to the Usuario: theirs alone.
    ("members.handover", "GET"): {**same({403}), "member": frozenset({200})},
    ("members.handover", "POST"): {**same({403}), "member": frozenset({303})},
    # Anyone may leave a desk but its last owner (the outsider is the only owner of its own). Run after
    # the hand-over: the Usuario is now the only Propietario, and the former owner a Usuario.
    ("members.leave", "POST"): {"viewer": {303}, "member": {409}, "owner": {303}, "outsider": {409}},
}
for endpoint in ("auth.register", "auth.register_sent", "auth.set_password", "auth.distributors", "auth.sign_in",
                 "auth.forgot", "auth.forgot_sent", "auth.reset", "auth.sign_out", "auth.terms", "auth.second_step",
                 "auth.cancel_second_step", "auth.verify_request", "auth.resend_verification", "auth.verify_email"):
    for method in ("GET", "POST"):
        MATRIX[(endpoint, method)] = PUBLIC
for endpoint in ("profile.general", "profile.activity_log", "profile.change_password", "profile.change_email",
                 "profile.confirm_email", "profile.update_details", "profile.two_factor_page",
                 "profile.regenerate_recovery_codes", "profile.confirm_two_factor", "profile.disable_two_factor",
                 "profile.start_two_factor", "profile.notifications", "profile.save_notifications",
                 "profile.unsubscribe"):
    for method in ("GET", "POST"):
        MATRIX[(endpoint, method)] = ACCOUNT
for route in [("api.assign_key", "POST"), ("api.deactivate_service", "POST"), ("api.get_desk", "GET"),
              ("api.get_key", "GET"), ("api.get_service", "GET"), ("api.get_stamps", "GET"), ("api.issue_keys", "POST"),
              ("api.list_desks", "GET"), ("api.list_services", "GET"), ("api.openapi", "GET"), ("api.put_desk", "PUT"),
              ("api.put_service", "PUT"), ("api.report_stamp_use", "POST"), ("api.revoke_key", "POST"),
              ("api.get_desk_sso", "GET"), ("api.put_desk_sso", "PUT")]:
    MATRIX[route] = API
# Run last, in this order: they change who holds which role.
LAST = [("members.handover", "POST"), ("members.leave", "POST")]


def _routes(app):
    return sorted({(rule.endpoint, method) for rule in app.url_map.iter_rules()
                   for method in rule.methods - {"HEAD", "OPTIONS"}},
                  key=lambda route: (LAST.index(route) if route in LAST else -1, route))


def test_every_route_has_an_entry(app):
    missing = [route for route in _routes(app) if route not in MATRIX]
    assert missing == [], f"rutas sin entrada en la matriz de roles: {missing}"


def test_every_route_answers_each_role_as_the_matrix_says(app, login):
    s = staff()
    system = factories.service(s.desk, "suscripciones")
    invitation = invite(s, "nueva.persona@empresa-invitada.mx")
    clients = {}
    for role in ROLES:
        clients[role] = app.test_client()
        login(s.by_role(role), target=clients[role])
    url_values = {"serial": system.serial, "category": "suscripciones", "desk_id": s.desk.id,
                  "invitation_id": invitation.id,
                  "token": None}
    targets = {"members.change_role": s.member.id, "members.remove": s.extra.id, "members.ask_handover": s.member.id}
    tokens = {"members.invitation": links.invitation_token(invitation),
              "members.handover": links.handover_token(s.desk.id, s.owner.id, s.member.id)}
    data = {"members.invite": {"email": "otra.persona@empresa-invitada.mx", "role": "viewer"},
            "members.change_role": {"role": "member"}, "core.switch_desk": {"desk_id": s.desk.id},
            "prepaid.validate": {"keys": ""}, "services.category": {"cols": "sistema"},
            "prepaid.keys": {"cols": "fecha"}, "members.users": {"cols": "nombre"}}
    wrong, leaks = [], []
    secrets_of_a = [s.owner.email, s.member.email, s.viewer.email, s.extra.email, invitation.email, s.desk.rfc]
    for endpoint, method in _routes(app):
        expected = MATRIX[(endpoint, method)]
        if isinstance(expected, str):
            continue
        rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint and method in r.methods)
        values = {name: (tokens[endpoint] if name == "token" else targets.get(endpoint) if name == "user_id"
                         else url_values[name]) for name in rule.arguments}
        with app.test_request_context():
            from flask import url_for
            url = url_for(endpoint, **values)
        for role in ROLES:
            response = clients[role].open(url, method=method, data=data.get(endpoint, {}))
            if role == "outsider":
                leaks += [(endpoint, method, text) for text in secrets_of_a if text in response.get_data(as_text=True)]
            if response.status_code not in expected[role]:
                wrong.append((endpoint, method, role, response.status_code, sorted(expected[role])))
            if response.status_code == 403 and role == "viewer" and endpoint not in tokens:
                body = response.get_data(as_text=True)
                assert "Tu rol en este escritorio es Consulta" in body, (endpoint, body[:300])
    assert wrong == [], "\n".join(map(str, wrong))
    assert leaks == []  # the other desk's owner never reads this desk's people
