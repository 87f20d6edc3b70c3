"""Mi escritorio > Usuarios through the test client: the page, roles in the pages, changes that take
effect on the member's next request, the e-mailed links, the API and the CSV import."""
import re
from datetime import timedelta

from sqlalchemy import select

from portal import clock
from portal.extensions import db
from portal.members import links
from portal.models import DeskInvitation, Membership
from tests import factories
from tests.api_support import ApiClient, token
from tests.conftest import body_of
from tests.desk_users_helpers import invite, staff


def test_the_page_lists_members_and_pending_invitations_like_the_other_grids(app, client, login, hx):
    s = staff()
    invite(s, "pendiente@empresa.mx", "viewer")
    login(s.owner)
    page = client.get("/escritorio/usuarios").get_data(as_text=True)
    for text in ("Usuarios del escritorio", s.member.email, "Consulta", "Usuario", "Propietario", "Nunca",
                 "Desactivada", "pendiente@empresa.mx", "Invitar a una persona", "Vence"):
        assert text in page
    assert s.outsider.email not in page
    assert 'href="/escritorio/usuarios"' in client.get("/servicios/suscripciones").get_data(as_text=True)  # desk menu
    found = client.get("/escritorio/usuarios?q=vera", headers=hx)
    assert found.status_code == 200 and s.viewer.email in found.get_data(as_text=True)
    assert s.member.email not in found.get_data(as_text=True) and "<html" not in found.get_data(as_text=True)
    csv = client.get("/escritorio/usuarios?formato=csv&sort=-correo")
    assert csv.mimetype == "text/csv" and s.owner.email in csv.get_data(as_text=True)
    clock.travel(timedelta(days=8))
    login(s.owner)  # a week later: a new session
    assert "Vencida" in client.get("/escritorio/usuarios").get_data(as_text=True)  # still there, to resend


def test_a_viewer_sees_the_lists_without_their_buttons_and_a_change_is_refused_saying_who_can(app, client, login, hx):
    s = staff()
    factories.service(s.desk, "suscripciones")
    login(s.viewer)
    listing = client.get("/servicios/suscripciones").get_data(as_text=True)
    assert "Reenviar CDA" not in listing and "Envíos" in listing
    swapped = client.get("/servicios/suscripciones?q=SAE", headers=hx)
    assert swapped.status_code == 200 and "Envíos" in swapped.get_data(as_text=True)
    assert "Reenviar CDA" not in swapped.get_data(as_text=True)
    assert "Activar claves" not in client.get("/claves-prepago").get_data(as_text=True)
    users = client.get("/escritorio/usuarios").get_data(as_text=True)
    assert "Invitar a una persona" not in users and "Cambiar rol" not in users and s.owner.email in users
    fragment = client.post("/escritorio/usuarios/invitar", data={"email": "x@empresa.mx", "role": "member"}, headers=hx)
    assert fragment.status_code == 403 and "Solo puede hacerlo un Propietario del escritorio" in fragment.get_data(as_text=True)
    assert db.session.scalar(select(DeskInvitation.id)) is None


def test_a_role_change_and_a_removal_apply_on_the_members_next_request(app, client, login):
    s = staff()
    system = factories.service(s.desk, "suscripciones")
    member = app.test_client()
    login(s.member, target=member)
    login(s.owner)
    assert client.post(f"/escritorio/usuarios/{s.member.id}/rol", data={"role": "viewer"}).status_code == 303
    refused = member.post(f"/servicios/{system.serial}/reenviar-cda")
    assert refused.status_code == 403 and "Tu rol en este escritorio es Consulta" in refused.get_data(as_text=True)
    assert client.post(f"/escritorio/usuarios/{s.member.id}/quitar").status_code == 303
    gone = member.get("/servicios/suscripciones")
    assert gone.status_code == 403 and "no pertenece a ningún escritorio" in gone.get_data(as_text=True)
    # The last owner is kept, with the reason; with htmx the panel is swapped in place, with the list.
    last = client.post(f"/escritorio/usuarios/{s.owner.id}/rol", data={"role": "member"}, headers={"HX-Request": "true"})
    body = last.get_data(as_text=True)
    assert last.status_code == 409 and "al menos un Propietario" in body
    assert body.lstrip().startswith('<div id="users-panel">') and s.viewer.email in body and "<html" not in body


def test_a_removed_member_of_two_desks_falls_back_to_the_other(app, client, login):
    s = staff()
    db.session.add(Membership(user_id=s.member.id, desk_id=s.other_desk.id, role="viewer"))
    db.session.commit()
    member = app.test_client()
    login(s.member, target=member)
    member.post("/escritorio", data={"desk_id": s.desk.id})
    login(s.owner)
    client.post(f"/escritorio/usuarios/{s.member.id}/quitar")
    page = member.get("/escritorio/usuarios").get_data(as_text=True)
    assert s.other_desk.razon_social in page and s.desk.razon_social not in page


def test_invitation_by_mail_for_a_new_account_with_its_own_password_rules(app, client, login, deliver):
    s = staff()
    login(s.owner)
    sent = client.post("/escritorio/usuarios/invitar", data={"email": "Nueva.Colega@Empresa.mx", "role": "viewer"})
    assert sent.status_code == 303
    assert "nueva.colega@empresa.mx" in client.get(sent.headers["Location"]).get_data(as_text=True)
    refused = client.post("/escritorio/usuarios/invitar", data={"email": s.member.email, "role": "viewer"})
    assert refused.status_code == 422 and "ya es usuario" in refused.get_data(as_text=True)
    [mail] = [m for m in deliver() if m["to"] == ["nueva.colega@empresa.mx"]]
    link = re.search(r"https?://\S+/escritorio/invitacion/\S+", body_of(mail["message"])).group(0)
    path = "/" + link.split("/", 3)[3]
    invitee = app.test_client()
    assert "Crea tu cuenta" in invitee.get(path).get_data(as_text=True)
    weak = invitee.post(path, data={"name": "Nora", "password": "12345678", "password_confirm": "12345678",
                                    "accept_terms": "y"})
    assert weak.status_code == 422 and db.session.scalar(select(DeskInvitation.id)) is not None
    joined = invitee.post(path, data={"name": "Nora Colega", "password": "una-clave-larga-7",
                                      "password_confirm": "una-clave-larga-7", "accept_terms": "y"})
    assert joined.status_code == 303
    page = invitee.get(joined.headers["Location"]).get_data(as_text=True)
    assert "Te uniste" in page or "quedó creada" in page
    assert "Nora Colega" in page and s.desk.razon_social in page
    again = app.test_client().get(path)
    assert again.status_code == 400 and "ya se usó" in again.get_data(as_text=True)
    activity = client.get("/perfil/actividad").get_data(as_text=True)
    assert "Invitación a un escritorio aceptada" in activity and "Invitación a un escritorio enviada" in activity


def test_an_existing_account_confirms_signed_in_as_the_invited_address(app, client, login):
    s = staff()
    guest = factories.user(s.other_desk, role="member")
    invitation = invite(s, guest.email)
    path = f"/escritorio/invitacion/{links.invitation_token(invitation)}"
    assert "Ingresa para aceptar" in client.get(path).get_data(as_text=True)
    login(s.member)
    assert client.get(path).status_code == 403  # another account: refused, nothing joins
    client.post("/cuenta/salir")
    login(guest)
    assert client.post(path).status_code == 303
    assert db.session.scalar(select(Membership.role).where(Membership.user_id == guest.id,
                                                           Membership.desk_id == s.desk.id)) == "member"


def test_hand_over_by_mail(app, client, login, deliver):
    s = staff()
    login(s.owner)
    assert client.post(f"/escritorio/usuarios/{s.member.id}/ceder").status_code == 303
    [mail] = [m for m in deliver() if m["to"] == [s.member.email]]
    path = "/" + re.search(r"https?://\S+/escritorio/ceder/\S+", body_of(mail["message"])).group(0).split("/", 3)[3]
    member = app.test_client()
    login(s.member, target=member)
    assert "Ser Propietario" in member.get(path).get_data(as_text=True)
    assert member.post(path).status_code == 303
    assert client.post(f"/escritorio/usuarios/{s.viewer.id}/rol", data={"role": "member"}).status_code == 403
    assert member.post(path).status_code == 400  # once


def test_the_api_and_the_import_take_viewer_and_show_pending_invitations(app, client):
    s = staff()
    invite(s, "por-aceptar@empresa.mx", "viewer")
    api = ApiClient(client, token())
    desk = api.get(f"/desks/{s.desk.rfc}").get_json()
    assert desk["pending_invitations"][0]["email"] == "por-aceptar@empresa.mx"
    assert desk["pending_invitations"][0]["role"] == "viewer"
    assert desk["pending_invitations"][0]["invited_by"] == s.owner.email
    assert {u["role"] for u in desk["users"]} == {"owner", "member", "viewer"}
    body = {"razon_social": s.desk.razon_social, "kind": s.desk.kind,
            "users": [{"email": "solo.mira@empresa.mx", "name": "Sol Mira", "phone": "55 1234 5678", "role": "viewer"}]}
    assert api.put(f"/desks/{s.desk.rfc}", json=body).status_code == 200
    assert db.session.scalar(select(Membership.role).join(Membership.user).where(
        Membership.desk_id == s.desk.id, Membership.user.has(email="solo.mira@empresa.mx"))) == "viewer"


def test_invitations_are_limited_per_owner_with_the_one_429(app, client, login):
    s = staff()
    login(s.owner)
    for n in range(10):
        assert client.post("/escritorio/usuarios/invitar", data={"email": f"p{n}@empresa.mx", "role": "member"}).status_code == 303
    over = client.post("/escritorio/usuarios/invitar", data={"email": "p10@empresa.mx", "role": "member"},
                       headers={"HX-Request": "true"})
    assert over.status_code == 429 and int(over.headers["Retry-After"]) > 0
    assert "Enviaste demasiadas invitaciones" in over.get_data(as_text=True)
    assert db.session.scalar(select(DeskInvitation.id).where(DeskInvitation.email == "p10@empresa.mx")) is None


def test_the_csv_import_takes_viewer(app, tmp_path):
    path = tmp_path / "desks.csv"
    path.write_text("rfc,razon_social,kind,user_email,user_name,user_phone,user_role\n"
                    "CBA950612K21,Comercializadora del Bajío S.A. de C.V.,cliente,laura@bajio.com.mx,Laura Méndez,,owner\n"
                    "CBA950612K21,Comercializadora del Bajío S.A. de C.V.,cliente,ana@bajio.com.mx,Ana Cuentas,,viewer\n",
                    encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["portal", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(Membership.role).join(Membership.user).where(
        Membership.user.has(email="ana@bajio.com.mx"))) == "viewer"
