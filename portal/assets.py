"""Static assets with their content hash in the name, cached for a year.

`asset_url("portal.css")` → `/assets/portal.3f9c2a1b7e.css`. A new deploy changes the hash, so
browsers keep a file forever and still never run a stale one.
"""
import hashlib
from pathlib import Path

from flask import Blueprint, abort, current_app, send_from_directory, url_for

bp = Blueprint("assets", __name__)
YEAR = 365 * 24 * 3600


def _fingerprints(folder):
    prints = {}
    for path in Path(folder).rglob("*"):
        if path.is_file():
            name = path.relative_to(folder).as_posix()
            prints[name] = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    return prints


def _versioned(name, digest):
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{digest}.{ext}" if dot else f"{name}.{digest}"


def asset_url(name):
    """The fingerprinted URL of a file under static/."""
    digest = current_app.extensions["asset_fingerprints"].get(name)
    if digest is None:
        raise LookupError(f"static/{name} no existe")
    return url_for("assets.asset", filename=_versioned(name, digest))


@bp.get("/assets/<path:filename>")
def asset(filename):
    """Serve static/<name> for <stem>.<hash>.<ext>, with a year of caching when the hash is current."""
    stem, _, ext = filename.rpartition(".")
    base, _, digest = stem.rpartition(".")
    name = f"{base}.{ext}"
    current = current_app.extensions["asset_fingerprints"].get(name)
    if current is None or not digest:
        abort(404)
    response = send_from_directory(current_app.static_folder, name, max_age=YEAR if digest == current else 0)
    if digest == current:
        response.cache_control.public = True
        response.cache_control.immutable = True
    return response


def init_app(app):
    app.extensions["asset_fingerprints"] = _fingerprints(app.static_folder)
    app.jinja_env.globals["asset_url"] = asset_url
    app.register_blueprint(bp)
