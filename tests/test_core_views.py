"""Sign-in and out, the layout, the desk selector and the error pages."""

import pytest

from tests import factories

MENU = ["Mis Servicios", "Servidor virtual", "Suscripciones", "Licenciamiento", "Espacio", "Mis Pólizas",
        "Sellado CFDI", "Cursos", "Activar claves de producto- Prepago", "Claves prepago",
        "Seguir comprando", "Comprar ahora"]


def test_pages_need_a_signed_in_user(client):
    response = client.get("/servicios/suscripciones")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/cuenta/ingresar?next=/servicios/suscripciones")


def test_htmx_request_without_session_is_sent_to_sign_in(client, hx):
    response = client.get("/servicios/suscripciones", headers=hx)
    assert response.status_code == 401
    assert "/cuenta/ingresar" in response.headers["HX-Redirect"]


def test_sign_in_shows_the_layout_with_every_menu_entry(client, world, login):
    login(world.a.user)
    page = client.get("/servicios/suscripciones").get_data(as_text=True)
    for label in MENU:
        assert label in page
    assert f"Póliza: {world.a.desk.razon_social[:20]}" in page
    assert "Mi perfil" in page and "Cerrar sesión" in page
    assert 'href="https://tienda.example/aspel"' in page


def test_wrong_password_and_unknown_email_get_the_same_generic_message(client, world):
    wrong = client.post("/cuenta/ingresar", data={"email": world.a.user.email, "password": "otra-cosa-123"})
    unknown = client.post("/cuenta/ingresar", data={"email": "nadie@empresa.mx", "password": "otra-cosa-123"})
    for response in (wrong, unknown):
        assert response.status_code == 422
        assert "Correo o contraseña incorrectos." in response.get_data(as_text=True)
    assert client.get("/servicios/suscripciones").status_code == 302


def test_sign_in_follows_next_only_inside_the_portal(client, world):
    data = {"email": world.a.user.email, "password": factories.PASSWORD}
    inside = client.post("/cuenta/ingresar", data={**data, "next": "/claves-prepago"})
    assert inside.headers["Location"] == "/claves-prepago"
    client.post("/cuenta/salir")
    for target in ("https://elsewhere.example/", "//elsewhere.example", "/\\elsewhere.example", "javascript:alert(1)"):
        response = client.post("/cuenta/ingresar", data={**data, "next": target})
        assert response.headers["Location"] == "/", target
        client.post("/cuenta/salir")


def test_sign_in_renews_the_session(client, world):
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    client.post("/cuenta/ingresar", data={"email": world.a.user.email, "password": factories.PASSWORD})
    with client.session_transaction() as session:
        assert "planted" not in session


def test_sign_out_is_a_post_and_ends_the_session(client, world, login):
    login(world.a.user)
    assert client.get("/cuenta/salir").status_code == 405
    response = client.post("/cuenta/salir")
    assert response.status_code == 303
    assert client.get("/servicios/suscripciones").status_code == 302


def _user_of_two_desks(login):
    """A distributor's user who is also a member of a client's desk, signed in."""
    first, second = factories.desk("distribuidor", "Alfa Sistemas"), factories.desk("cliente", "Beta Papelería")
    user = factories.user(first)
    from portal.extensions import db
    from portal.models import Membership
    db.session.add(Membership(user_id=user.id, desk_id=second.id, role="member"))
    db.session.commit()
    login(user)
    return user, second


def test_desk_selector_switches_between_the_users_desks(client, app, login):
    _user, second = _user_of_two_desks(login)
    assert "Póliza: Alfa Sistemas" in client.get("/claves-prepago").get_data(as_text=True)
    response = client.post("/escritorio", data={"desk_id": second.id, "next": "/claves-prepago"})
    assert response.status_code == 303 and response.headers["Location"] == "/claves-prepago"
    assert "Póliza: Beta Papelería" in client.get("/claves-prepago").get_data(as_text=True)


def test_a_desk_the_user_is_removed_from_is_gone_on_the_next_page(client, app, login):
    from portal.extensions import db
    from portal.models import Membership

    user, second = _user_of_two_desks(login)
    client.post("/escritorio", data={"desk_id": second.id, "next": "/claves-prepago"})
    assert "Póliza: Beta Papelería" in client.get("/claves-prepago").get_data(as_text=True)
    db.session.query(Membership).filter_by(user_id=user.id, desk_id=second.id).delete()
    db.session.commit()
    page = client.get("/claves-prepago").get_data(as_text=True)
    assert "Póliza: Alfa Sistemas" in page and "Beta Papelería" not in page


def test_the_sessions_desk_and_saved_columns_are_read_in_the_statement_that_loads_the_user(
        client, app, world, login, hx):
    from sqlalchemy import event

    from portal.extensions import db

    factories.prepaid_key(world.a.desk, status="disponible", confirmed_on=factories.today())  # in the default period
    login(world.a.user)
    client.post("/claves-prepago", data={"cols": ["clave", "estatus"]})  # "Columnas" saved
    statements = []
    with app.app_context():
        engine = db.engine
    listener = lambda conn, cursor, statement, *rest: statements.append(" ".join(statement.split()))  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        response = client.get("/claves-prepago", headers=hx)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert response.status_code == 200
    loads = [s for s in statements if " FROM users " in s]
    assert len(loads) == 1 and "LEFT OUTER JOIN desks" in loads[0]
    assert not [s for s in statements if s.startswith("SELECT desks.")], statements
    assert not [s for s in statements if s.startswith("SELECT grid_preferences")], statements
    assert ">Clave<" in response.get_data(as_text=True) and ">Cantidad<" not in response.get_data(as_text=True)


def test_after_a_password_change_this_browser_keeps_its_desk_and_its_saved_columns(client, app, login, hx):
    # The change ends every session and this browser goes on in a new one: the desk it chose and
    # the columns it saved are the account's, not the old session's.
    user, second = _user_of_two_desks(login)
    factories.prepaid_key(second, status="disponible", confirmed_on=factories.today())
    client.post("/escritorio", data={"desk_id": second.id, "next": "/claves-prepago"})
    client.post("/claves-prepago", data={"cols": ["clave", "estatus"]})
    changed = client.post("/perfil/contrasena", headers=hx, data={
        "password-current_password": factories.PASSWORD, "password-new_password": "otra-Clave-larga-42",
        "password-new_password_confirm": "otra-Clave-larga-42"})
    assert changed.status_code == 200 and "Tu contraseña se cambió." in changed.get_data(as_text=True)
    assert "Póliza: Beta Papelería" in client.get("/claves-prepago").get_data(as_text=True)
    listing = client.get("/claves-prepago", headers=hx).get_data(as_text=True)
    assert ">Clave<" in listing and ">Cantidad<" not in listing


def test_a_user_cannot_switch_to_someone_elses_desk(client, world, login):
    login(world.b.user)
    response = client.post("/escritorio", data={"desk_id": world.a.desk.id})
    assert response.status_code == 404
    page = client.get("/claves-prepago").get_data(as_text=True)
    assert world.a.desk.razon_social not in page
    assert f"Póliza: {world.b.desk.razon_social[:20]}" in page


def test_desk_switch_with_garbage_is_a_clear_400(client, world, login):
    login(world.a.user)
    response = client.post("/escritorio", data={"desk_id": "uno; drop table"})
    assert response.status_code == 400
    assert "Selecciona un escritorio válido." in response.get_data(as_text=True)


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_post_without_csrf_token_is_refused_in_spanish(client, world):
    response = client.post("/cuenta/ingresar", data={"email": world.a.user.email, "password": factories.PASSWORD})
    assert response.status_code == 400
    assert "La sesión del formulario expiró" in response.get_data(as_text=True)
    assert client.get("/servicios/suscripciones").status_code == 302


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_htmx_sends_the_csrf_token_in_a_header(client, world):
    page = client.get("/cuenta/ingresar").get_data(as_text=True)
    import re
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    response = client.post("/cuenta/ingresar", headers={"X-CSRFToken": token, "HX-Request": "true"},
                           data={"email": world.a.user.email, "password": factories.PASSWORD})
    # Signed in: htmx is told to load the next page whole rather than swap it into the form.
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/"


ERRORS = {
    400: "Solicitud no válida", 403: "Acceso denegado", 404: "Página no encontrada",
    405: "Método no permitido", 413: "Solicitud demasiado grande", 429: "Demasiados intentos",
    500: "Error del servidor",
}


@pytest.fixture
def failing_routes(app):
    from flask import abort

    @app.get("/_prueba/error/<int:code>")
    def _raise(code):
        if code == 500:
            raise RuntimeError("detalle interno secreto")
        abort(code)

    return app


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_error_pages_are_spanish_pages_or_htmx_fragments(failing_routes, client, hx, code):
    page = client.get(f"/_prueba/error/{code}")
    assert page.status_code == code
    body = page.get_data(as_text=True)
    assert ERRORS[code] in body and "<html" in body
    assert "detalle interno secreto" not in body and "Traceback" not in body
    fragment = client.get(f"/_prueba/error/{code}", headers=hx)
    assert fragment.status_code == code
    text = fragment.get_data(as_text=True)
    assert ERRORS[code] in text and "<html" not in text
    # htmx swaps it into the page's message area (responseHandling swaps 4xx/5xx).
    assert fragment.headers["HX-Retarget"] == "#page-messages"
    assert "HX-Request" in fragment.headers.get("Vary", "")


def test_real_405_and_413(client, app):
    assert client.put("/cuenta/ingresar").status_code == 405
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = client.post("/cuenta/ingresar", data={"email": "x" * 5000})
    assert response.status_code == 413
    assert "Solicitud demasiado grande" in response.get_data(as_text=True)


def test_security_headers_on_pages(client):
    response = client.get("/cuenta/ingresar")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in csp and "unsafe-eval" not in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store, no-cache"


def test_dates_are_shown_dd_mm_aaaa(app):
    from datetime import date
    from portal.templating import fecha
    assert fecha(date(2020, 7, 14)) == "14/07/2020"
    assert fecha(None, "Inactiva") == "Inactiva"


def test_assets_carry_their_hash_and_are_cached_for_a_year(client):
    import re
    page = client.get("/cuenta/ingresar").get_data(as_text=True)
    css = re.search(r'href="(/assets/portal\.[0-9a-f]{10}\.css)"', page).group(1)
    htmx = re.search(r'src="(/assets/vendor/htmx-2\.0\.11\.min\.[0-9a-f]{10}\.js)"', page).group(1)
    for url in (css, htmx):
        response = client.get(url)
        assert response.status_code == 200
        assert "max-age=31536000" in response.headers["Cache-Control"]
        assert "immutable" in response.headers["Cache-Control"]
    stale = client.get("/assets/portal.0000000000.css")
    assert stale.status_code == 200 and "max-age=0" in stale.headers["Cache-Control"]
    assert client.get("/assets/nada.0000000000.css").status_code == 404
    assert client.get("/assets/..%2Fapp.0000000000.py").status_code == 404


def test_pages_are_compressed_when_the_browser_accepts_it(client):
    import gzip
    plain = client.get("/cuenta/ingresar")
    packed = client.get("/cuenta/ingresar", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"] and "HX-Request" in packed.headers["Vary"]
    page = gzip.decompress(packed.data).decode()
    assert page.startswith("<!doctype html>") and "Iniciar sesión" in page
    assert len(packed.data) < len(plain.data) * 0.6


def test_times_are_shown_in_mexico_city_time(app):
    from datetime import datetime, timezone
    from portal.templating import fecha_hora
    assert fecha_hora(datetime(2026, 11, 22, 4, 36, tzinfo=timezone.utc)) == "21/11/2026 22:36"
    assert fecha_hora(datetime(2026, 11, 22, 4, 36)) == "21/11/2026 22:36"


FOOTER_PAGES = ["/cuenta/ingresar", "/cuenta/crear", "/cuenta/terminos", "/aviso-de-privacidad", "/no-existe"]


def footer_of(page):
    import re
    found = re.search(r'<footer class="site-footer">(.*?)</footer>', page, re.S)
    return found and found.group(1)


@pytest.mark.app_config(SUPPORT_EMAIL="ayuda@marca.example", SUPPORT_URL="https://marca.example/soporte")
def test_every_page_signed_in_or_out_has_the_support_contact_and_the_notices_in_its_footer(client, world, login):
    signed_in = ["/servicios/suscripciones", "/claves-prepago", "/claves-prepago/activar", "/perfil",
                 "/perfil/notificaciones", "/aviso-de-privacidad", "/no-existe"]
    for when, paths in (("fuera", FOOTER_PAGES), ("dentro", signed_in)):
        if when == "dentro":
            login(world.a.user)
        for path in paths:
            footer = footer_of(client.get(path).get_data(as_text=True))
            assert footer, (when, path)
            assert '<a href="mailto:ayuda@marca.example">ayuda@marca.example</a>' in footer, path
            assert 'href="https://marca.example/soporte"' in footer, path
            assert '<a href="/aviso-de-privacidad">Aviso de privacidad</a>' in footer, path
            assert '<a href="/cuenta/terminos">Términos y condiciones</a>' in footer, path


@pytest.mark.app_config(SUPPORT_URL="")
def test_without_a_support_url_the_footer_gives_the_email_alone(client):
    footer = footer_of(client.get("/cuenta/ingresar").get_data(as_text=True))
    assert "soporte@aspel.com.mx" in footer and "centro de soporte" not in footer


def test_crear_cuenta_links_the_privacy_notice_where_it_asks_for_personal_data(client):
    page = client.get("/cuenta/crear").get_data(as_text=True)
    form = page[page.index('<form id="auth-register"'):page.index("</form>")]
    assert '<a href="/aviso-de-privacidad" target="_blank" rel="noopener">Aviso de privacidad</a>' in form


def test_the_default_privacy_notice_names_the_brand_and_the_support_contact(client, world, login):
    for signed_in in (False, True):
        if signed_in:
            login(world.a.user)
        response = client.get("/aviso-de-privacidad")
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert "<h1>Aviso de privacidad</h1>" in page
        assert "Aspel es responsable del tratamiento de los datos personales" in page
        assert "Ley Federal de Protección de Datos Personales en Posesión de los Particulares (LFPDPPP)" in page
        assert "derechos ARCO" in page and page.count('href="mailto:soporte@aspel.com.mx"') >= 3


@pytest.mark.app_config(BRAND_NAME="Contpaq", PRIVACY_NOTICE_FILE=None)
def test_a_privacy_notice_file_replaces_the_default_text(app, client, tmp_path):
    notice = tmp_path / "aviso.txt"
    notice.write_text("# Responsable\n\nContpaq <S.A.> trata tus datos\npara darte el servicio.\n\n\n"
                      "# Derechos ARCO\n\nEscribe a privacidad@contpaq.example.\n", encoding="utf-8")
    app.config["PRIVACY_NOTICE_FILE"] = str(notice)
    page = client.get("/aviso-de-privacidad").get_data(as_text=True)
    body = page[page.index('id="privacy-notice"'):page.index("</section>")]
    assert "<h2>Responsable</h2>" in body and "<p>Contpaq &lt;S.A.&gt; trata tus datos para darte el servicio.</p>" in body
    assert "<h2>Derechos ARCO</h2>" in body and "<p>Escribe a privacidad@contpaq.example.</p>" in body
    assert "LFPDPPP" not in body


def test_the_favicon_is_served_by_the_portal_and_linked_from_every_page(client):
    import re
    page = client.get("/cuenta/ingresar").get_data(as_text=True)
    assert '<link rel="icon" href="/favicon.ico" sizes="32x32">' in page
    svg = re.search(r'<link rel="icon" href="(/assets/favicon\.[0-9a-f]{10}\.svg)" type="image/svg\+xml">', page).group(1)
    assert client.get(svg).mimetype == "image/svg+xml"
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert icon.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")


def test_the_permissions_policy_names_only_features_chromium_knows(client):
    policy = client.get("/cuenta/ingresar").headers["Permissions-Policy"]
    assert "camera=()" in policy and "bluetooth" not in policy
