"""Configuration: defaults, then the environment, then the caller's overrides.

Nothing is read at import time, so tests and the CLI can build apps with any settings.
"""
import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(RuntimeError):
    """The environment cannot make a working portal; the message says what to set."""


def _list(value):
    return [item.strip() for item in str(value).split(",") if item.strip()] or None


def _bool(value):
    return str(value).strip().lower() in {"1", "true", "yes", "on", "si", "sí"}


# name -> (default, parser). The README's configuration table documents each (tests/test_core_docs_rules.py).
SETTINGS = {
    "PORTAL_ENV": ("development", str),
    "DATABASE_URL": (None, str),
    "SECRET_KEY": (None, str),
    # Encrypts CDAs and unconfirmed key codes at rest (portal/sealed.py); unset: derived from SECRET_KEY.
    "DATA_KEY": (None, str),
    "BRAND_NAME": ("Aspel", str),
    "TIMEZONE": ("America/Mexico_City", str),
    "STORE_URL": ("https://www.aspel.com.mx/tienda", str),
    # The support contact in every page's footer and in the privacy notice; SUPPORT_URL empty: the e-mail alone.
    "SUPPORT_EMAIL": ("soporte@aspel.com.mx", str),
    "SUPPORT_URL": ("https://www.aspel.com.mx/soporte", str),
    # The aviso de privacidad at /aviso-de-privacidad: a UTF-8 text file, paragraphs apart by a blank line,
    # a line starting "# " a heading. Empty: the portal's own notice under the LFPDPPP, naming BRAND_NAME
    # as the party responsible and the support contact above.
    "PRIVACY_NOTICE_FILE": (None, str),
    "FRAME_ANCESTORS": ("'self'", str),
    "RATELIMIT_STORAGE_URI": ("memory://", str),
    # Multiplies every rate of portal/limits.py (the bench raises them; 1 is production's).
    "RATELIMIT_FACTOR": (1, int),
    "MAIL_SERVER": ("", str),
    "MAIL_PORT": (25, int),
    "MAIL_USE_TLS": (False, _bool),
    "MAIL_USE_SSL": (False, _bool),
    "MAIL_USERNAME": (None, str),
    "MAIL_PASSWORD": (None, str),
    "MAIL_DEFAULT_SENDER": ("Escritorio de Servicios <no-responder@escritorio.local>", str),
    "MAIL_TIMEOUT": (10, int),
    "MAIL_SUPPRESS_SEND": (False, _bool),
    "MAIL_DIR": (None, str),
    "OUTBOX_MAX_ATTEMPTS": (8, int),
    # Seconds between two runs of `flask portal alerts` inside `flask outbox deliver --loop`; 0: never
    # (run it from cron instead). Runs on several hosts at once still mail each alert once.
    "ALERTS_INTERVAL": (3600, int),
    "PROXY_COUNT": (0, int),
    # Unset: Secure exactly when PORTAL_URL is https (see _secure_cookies).
    "SESSION_COOKIE_SECURE": (None, _bool),
    "SESSION_COOKIE_SAMESITE": ("Lax", str),
    # Under a prefix on a shared intranet host: the prefix, so the cookie is not sent to the host's other apps.
    "SESSION_COOKIE_PATH": (None, str),
    "SESSION_COOKIE_NAME": ("session", str),
    # A remembered session ("Mantener la sesión iniciada") unused this long is over; its cookie lasts as long.
    "SESSION_DAYS": (14, int),
    # A session not remembered is over after this many minutes unused.
    "SESSION_IDLE_MINUTES": (30, int),
    # No session lives longer than this from its sign-in, remembered and used or not.
    "SESSION_MAX_DAYS": (30, int),
    "PREFERRED_URL_SCHEME": ("http", str),
    # argon2id, 19 MiB, 2 iterations: OWASP's first choice for ASVS (portal/auth/passwords.py says why).
    "PASSWORD_HASH_METHOD": ("argon2id:19456:2:1", str),
    "MAX_CONTENT_LENGTH": (1024 * 1024, int),
    # Host names the portal answers to (comma list); required in production.
    "TRUSTED_HOSTS": (None, _list),
    # The back-office API: requests per token, and the largest JSON body it reads.
    "API_RATE_LIMIT": ("600/minute", str),
    "API_MAX_CONTENT_LENGTH": (64 * 1024, int),
    # The portal's public address, prefix included: every link in every e-mail starts with it (never
    # with the request's Host). Required in production; development defaults to the dev server.
    "PORTAL_URL": (None, str),
    # The prefix the portal is served under on a shared host (/portal), applied by the portal itself
    # (portal/prefix.py): a path outside it gets the portal's 404. gunicorn reads the same variable;
    # deploy/gunicorn.conf.py keeps it from refusing those paths with its own English page.
    "SCRIPT_NAME": ("", str),
    # Single sign-on with an OpenID Provider (portal/auth/oidc.py): its issuer (discovery), and this portal's
    # client there, whose redirect URI is PORTAL_URL + /cuenta/sso/retorno. Issuer without client: no start.
    "OIDC_ISSUER": (None, str),
    "OIDC_CLIENT_ID": (None, str),
    "OIDC_CLIENT_SECRET": (None, str),
    "OIDC_SCOPES": ("openid email profile", str),
    # An identity whose verified e-mail is an account's signs in as it (and is linked to it for good).
    "OIDC_LINK_BY_EMAIL": (True, _bool),
    # An identity no account has: create the account (else it is refused with a page saying whom to ask).
    "OIDC_AUTO_CREATE": (False, _bool),
    # "grupo=RFC:rol, ...": the desks an account the provider created belongs to, by its `groups` claim.
    "OIDC_DESK_GROUPS": ("", str),
    # Seconds the portal waits for the provider (discovery, keys, code exchange) before saying it is down.
    "OIDC_TIMEOUT": (5, float),
    # A reverse proxy that signs users in sets this header to their verified e-mail; read only from
    # AUTH_PROXY_ADDRESSES (comma list of addresses or networks, required with it, no wildcard).
    "AUTH_PROXY_HEADER": (None, str),
    "AUTH_PROXY_ADDRESSES": (None, _list),
    # PostgreSQL: a pooled connection that rested longer than this is pinged before use (portal/postgres.py).
    "DATABASE_PING_IDLE_SECONDS": (10.0, float),
    # Log lines: text (development) or json (one object a line: time, level, logger, request_id, route,
    # status, duration_ms, desk_id, user_id). gunicorn's access log follows (deploy/gunicorn.conf.py).
    "LOG_FORMAT": ("text", str),
    # One INFO line per request from the portal (route, status, duration, request, desk and user IDs;
    # the probes at DEBUG). Off: gunicorn's access log (GUNICORN_ACCESS_LOG) is the request log.
    "LOG_REQUESTS": (False, _bool),
    # /metrics answers a request with "Authorization: Bearer <METRICS_TOKEN>" or from METRICS_ADDRESSES
    # (comma list of addresses or networks, e.g. 10.0.5.7,127.0.0.1); anyone else gets a 404.
    "METRICS_TOKEN": (None, str),
    "METRICS_ADDRESSES": (None, _list),
    # A statement of a page that reads is cancelled past it (portal/deadlines.py); 0: unbounded.
    "STATEMENT_TIMEOUT_SECONDS": (5.0, float),
}


def load_config(app, overrides=None):
    """Fill app.config from SETTINGS and the environment; overrides win (tests use them)."""
    overrides = dict(overrides or {})
    for name, (default, parse) in SETTINGS.items():
        raw = os.environ.get(name)
        app.config[name] = parse(raw) if raw not in (None, "") else default
    app.config.update(overrides)
    # Logging is set up by the portal when asked (LOG_FORMAT named) or outside tests; a test's app
    # leaves it to pytest's capture.
    app.config["LOG_CONFIGURE"] = (bool(os.environ.get("LOG_FORMAT")) or "LOG_FORMAT" in overrides
                                   or not app.config.get("TESTING"))
    if app.config["LOG_FORMAT"] not in ("text", "json"):
        raise ConfigError(f"LOG_FORMAT={app.config['LOG_FORMAT']!r} no es válido: usa text o json.")

    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    production = app.config["PORTAL_ENV"] == "production"
    app.config["PRODUCTION"] = production

    if not app.config.get("SECRET_KEY"):
        if production:
            raise ConfigError(
                "SECRET_KEY no está definida: en producción (PORTAL_ENV=production) "
                "defínela en el entorno con un valor largo y aleatorio."
            )
        app.config["SECRET_KEY"] = _development_secret(instance)

    _public_address(app.config, production)
    app.config["SCRIPT_NAME"] = _script_name(app.config["SCRIPT_NAME"])
    _readable_notice(app.config.get("PRIVACY_NOTICE_FILE"))
    _single_sign_on(app.config)

    url = app.config.get("SQLALCHEMY_DATABASE_URI") or app.config.get("DATABASE_URL")
    if not url:
        url = f"sqlite:///{instance / 'portal.db'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = _normalise_db_url(url)
    if not app.config.get("MAIL_DIR"):
        app.config["MAIL_DIR"] = str(instance / "mail")
    app.config["SESSION_COOKIE_SECURE"] = _secure_cookies(app.config, production)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = _same_site(app.config["SESSION_COOKIE_SAMESITE"],
                                                       app.config["SESSION_COOKIE_SECURE"])
    app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
    app.config["REMEMBER_COOKIE_SAMESITE"] = app.config["SESSION_COOKIE_SAMESITE"]
    app.config["REMEMBER_COOKIE_PATH"] = app.config["SESSION_COOKIE_PATH"] or "/"
    app.config["REMEMBER_COOKIE_DURATION"] = timedelta(days=min(app.config["SESSION_DAYS"], app.config["SESSION_MAX_DAYS"]))
    app.config.setdefault("REMEMBER_COOKIE_NAME", "remember_token")
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)
    # gzip every client decodes (brotli gains little on pages this small); streams use deflate.
    app.config.setdefault("COMPRESS_ALGORITHM", ["gzip", "deflate"])
    app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ["deflate"])
    # Every page and fragment is compressed on every request, inside its time: the level is the
    # cheapest that keeps pages within their weight budgets (bench/README.md, "The fixed cost").
    app.config.setdefault("COMPRESS_LEVEL", 3)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", _engine_options(app.config["SQLALCHEMY_DATABASE_URI"]))


def _public_address(config, production):
    """PORTAL_URL and TRUSTED_HOSTS: production refuses to start without them (links in e-mail and
    redirects would otherwise follow whatever Host a request names)."""
    missing = [name for name in ("PORTAL_URL", "TRUSTED_HOSTS") if not config.get(name)]
    if production and missing:
        raise ConfigError(
            f"Falta {' y '.join(missing)}: en producción (PORTAL_ENV=production) define PORTAL_URL con la "
            "dirección pública del portal, prefijo incluido (https://intranet.example.mx/portal), y "
            "TRUSTED_HOSTS con los nombres de host que atiende (intranet.example.mx)."
        )
    url = (config.get("PORTAL_URL") or "http://127.0.0.1:5000").rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"PORTAL_URL={url!r} no es válida: usa una dirección como https://intranet.example.mx/portal.")
    config["PORTAL_URL"] = url


def parse_desk_groups(text):
    """OIDC_DESK_GROUPS "grupo=RFC:rol, ..." as [(group, rfc, role)]; ValueError naming the bad entry."""
    from portal.models.accounts import MEMBER_ROLES

    entries = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        group, _, rest = item.partition("=")
        rfc, _, role = rest.partition(":")
        group, rfc, role = group.strip(), rfc.strip().upper(), role.strip().lower()
        if not group or not rfc or role not in MEMBER_ROLES:
            raise ValueError(f"{item!r} no tiene la forma grupo=RFC:rol (rol: {', '.join(MEMBER_ROLES)})")
        entries.append((group, rfc, role))
    return entries


def _single_sign_on(config):
    """OIDC_* and AUTH_PROXY_*: complete and well formed, or the portal does not start."""
    if config.get("OIDC_ISSUER"):
        issuer = urlsplit(config["OIDC_ISSUER"])
        if issuer.scheme not in ("http", "https") or not issuer.netloc or issuer.query or issuer.fragment:
            raise ConfigError(f"OIDC_ISSUER={config['OIDC_ISSUER']!r} no es válido: usa la dirección del emisor "
                              "(https://login.example.mx/realms/intranet).")
        if config.get("PRODUCTION") and issuer.scheme != "https" and issuer.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(f"OIDC_ISSUER={config['OIDC_ISSUER']!r}: en producción el proveedor se consulta por "
                              "HTTPS (sus llaves y el intercambio del código viajan por ahí).")
        if str(config.get("SESSION_COOKIE_SAMESITE", "")).strip().lower() == "strict":
            # The provider sends the browser back from another site: a Strict cookie stays behind,
            # and the sign-in in progress with it (Lax cookies go with that top-level GET).
            raise ConfigError("OIDC_ISSUER requiere SESSION_COOKIE_SAMESITE=Lax (o None): con Strict el navegador "
                              "no envía la cookie de sesión al volver del proveedor y nadie podría ingresar.")
        missing = [name for name in ("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET") if not config.get(name)]
        if missing:
            raise ConfigError(f"OIDC_ISSUER está definida pero falta {' y '.join(missing)}: registra el portal "
                              "como cliente en el proveedor y define ambos.")
    if "openid" not in str(config.get("OIDC_SCOPES", "")).split():
        raise ConfigError("OIDC_SCOPES debe incluir openid (p. ej. \"openid email profile\").")
    try:
        config["OIDC_DESK_GROUP_MAP"] = parse_desk_groups(config.get("OIDC_DESK_GROUPS"))
    except ValueError as error:
        raise ConfigError(f"OIDC_DESK_GROUPS no es válida: {error}.") from None
    config["AUTH_PROXY_NETWORKS"] = _proxy_networks(config.get("AUTH_PROXY_HEADER"), config.get("AUTH_PROXY_ADDRESSES"))


def _proxy_networks(header, addresses):
    """AUTH_PROXY_ADDRESSES as networks; required with AUTH_PROXY_HEADER, and never everyone."""
    import ipaddress

    if isinstance(addresses, str):
        addresses = _list(addresses)
    if not header:
        if addresses:
            raise ConfigError("AUTH_PROXY_ADDRESSES está definida sin AUTH_PROXY_HEADER: define ambas o ninguna.")
        return ()
    if not addresses:
        raise ConfigError("AUTH_PROXY_HEADER requiere AUTH_PROXY_ADDRESSES: las direcciones del proxy que inicia "
                          "las sesiones (p. ej. 127.0.0.1); de cualquier otra el encabezado se ignora.")
    networks = []
    for address in addresses:
        try:
            network = ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise ConfigError(f"AUTH_PROXY_ADDRESSES: {address!r} no es una dirección ni una red.") from None
        if network.prefixlen == 0:
            raise ConfigError(f"AUTH_PROXY_ADDRESSES: {address!r} abarca cualquier dirección; nombra solo las del proxy.")
        networks.append(network)
    return tuple(networks)


def _secure_cookies(config, production):
    """Whether every cookie carries Secure: SESSION_COOKIE_SECURE, or when unset whether PORTAL_URL
    is https. Production refuses an https portal whose cookies would also travel over plain http."""
    secure, https = config.get("SESSION_COOKIE_SECURE"), config["PORTAL_URL"].startswith("https://")
    if secure is None:
        return https
    if production and https and not secure:
        raise ConfigError(
            "SESSION_COOKIE_SECURE=0 con PORTAL_URL en https: las cookies de sesión viajarían también sin "
            "cifrar. En producción quita SESSION_COOKIE_SECURE (o ponla en 1).")
    return bool(secure)


def _readable_notice(path):
    """A PRIVACY_NOTICE_FILE that cannot be read stops the start, rather than every visit to the notice."""
    if not path:
        return
    try:
        Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"PRIVACY_NOTICE_FILE={path!r} no se puede leer como texto UTF-8: {error}") from None


def _script_name(value):
    """SCRIPT_NAME as the portal applies it: "" (served at the root) or "/portal", no trailing slash."""
    prefix = (value or "").strip().rstrip("/")
    if prefix and (not prefix.startswith("/") or any(ch in prefix for ch in "?#%\\ ")):
        raise ConfigError(f"SCRIPT_NAME={value!r} no es válido: usa una ruta como /portal.")
    return prefix


def _same_site(value, secure):
    """Lax, Strict or None; None only with Secure, since browsers drop a SameSite=None cookie without it."""
    spelled = {"lax": "Lax", "strict": "Strict", "none": "None"}.get(str(value).strip().lower())
    if spelled is None:
        raise ConfigError(f"SESSION_COOKIE_SAMESITE={value!r} no es válido: usa Lax, Strict o None.")
    if spelled == "None" and not secure:
        raise ConfigError(
            "SESSION_COOKIE_SAMESITE=None requiere SESSION_COOKIE_SECURE=1 (y el portal servido por HTTPS): "
            "los navegadores descartan una cookie SameSite=None sin Secure y nadie podría iniciar sesión."
        )
    return spelled


def _development_secret(instance):
    """A random key kept under instance/ so development sessions survive restarts."""
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _normalise_db_url(url):
    # Heroku-style and bare postgres URLs mean psycopg 3 here.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _engine_options(url):
    # Statement parameters carry secrets (a CDA in an outbox body, password hashes): keep them
    # out of SQL logging and out of the database errors the error handler logs.
    if url.startswith("sqlite"):
        # Several processes share one file: wait for the lock instead of failing at once.
        return {"connect_args": {"timeout": 30}, "hide_parameters": True}
    # No pool_pre_ping: portal/postgres.py pings only connections that rested in the pool.
    return {"hide_parameters": True}
