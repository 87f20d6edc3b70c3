"""Escritorio de Servicios: the application factory."""
import functools
import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.config import ConfigError, load_config  # noqa: F401  (re-exported for app.py users)

STATIC_ROOT = "../static"
TEMPLATE_ROOT = "../templates"


def create_app(config=None):
    """Build the portal: config → extensions → blueprints → errors → CLI."""
    instance_path = (config or {}).get("INSTANCE_PATH")  # tests point it at a temporary folder
    app = Flask(__name__, static_folder=STATIC_ROOT, template_folder=TEMPLATE_ROOT,
                instance_relative_config=True, instance_path=instance_path)
    load_config(app, config)
    if app.config["SCRIPT_NAME"]:
        from portal.prefix import Prefix
        app.wsgi_app = Prefix(app, app.config["SCRIPT_NAME"])
    if app.config["PROXY_COUNT"]:
        n = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n, x_prefix=n)
    from portal import logs, request_ids
    # Outermost: the ID and the request's log line cover everything inside, the prefix's 404 included.
    # The proxy's X-Request-ID is trusted as its X-Forwarded-For is (PROXY_COUNT).
    finished = functools.partial(logs.request_finished, log_requests=app.config["LOG_REQUESTS"])
    app.wsgi_app = request_ids.RequestIds(app.wsgi_app, trusted=app.config["PROXY_COUNT"] > 0, finished=finished)

    _init_extensions(app)
    from portal.logs import SecretConverter
    app.url_map.converters["secret"] = SecretConverter  # before the routes that use it
    _register_blueprints(app)

    from portal import assets, errors, htmx, logs, request_units, sanity, security, templating
    request_units.init_app(app)  # first: the request's unit of work begins before any statement
    assets.init_app(app)
    logs.init_app(app)
    sanity.init_app(app)
    templating.init_app(app)
    htmx.init_app(app)
    security.init_app(app)
    errors.init_app(app)

    from portal.alerts import layout as alerts_layout
    alerts_layout.init_app(app)

    from portal import proxy_sign_in as proxy
    proxy.init_app(app)  # last: its gate is the outermost middleware, reading the TCP peer

    from portal import cli
    cli.init_app(app)
    logging.getLogger("portal").setLevel(logging.INFO)
    if app.config["LOG_CONFIGURE"]:
        logs.configure(app.config["LOG_FORMAT"])
    return app


def _init_extensions(app):
    from portal import limits, models  # noqa: F401  (models: register the tables with the metadata)
    from portal.extensions import compress, csrf, db, login_manager, mail, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"), render_as_batch=True)
    csrf.init_app(app)
    compress.init_app(app)
    mail.init_app(app)
    limits.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Inicia sesión para continuar."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    from portal.auth.views import unauthorized
    from portal.desks import load_user
    from portal.logs import noting_user
    login_manager.user_loader(noting_user(load_user))
    login_manager.unauthorized_handler(unauthorized)

    from portal.metrics import watch_pool
    with app.app_context():
        watch_pool(db.engine)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        from portal.sqlite import tune_sqlite
        with app.app_context():
            tune_sqlite(db.engine)
    elif app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        from portal.postgres import tune_postgresql
        with app.app_context():
            tune_postgresql(db.engine, app.config["DATABASE_PING_IDLE_SECONDS"])
    from portal.deadlines import bound
    with app.app_context():
        bound(db.engine, app.config["STATEMENT_TIMEOUT_SECONDS"])


def _register_blueprints(app):
    from portal.api import bp as api_bp
    from portal.auth import bp as auth_bp
    from portal.cda import bp as cda_bp
    from portal.core import bp as core_bp
    from portal.members import bp as members_bp
    from portal.prepaid import bp as prepaid_bp
    from portal.profile import bp as profile_bp
    from portal.services import bp as services_bp

    for bp in (core_bp, auth_bp, services_bp, cda_bp, prepaid_bp, profile_bp, members_bp, api_bp):
        app.register_blueprint(bp)
