"""Helpers shared by the prepaid tests: walking the activation steps over HTTP, several processes."""
import contextlib
import json
import multiprocessing
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urljoin

import requests

ROOT = Path(__file__).resolve().parent.parent

TOKEN = re.compile(r'name="token" type="hidden" value="([^"]+)"')


def step_token(html):
    """The signed step token of a "Solicitar Clave de Confirmación" panel."""
    match = TOKEN.search(html)
    assert match, "no hay token de paso en la respuesta"
    return match.group(1)


def validate(client, keys, headers=None, follow=False):
    """POST step 1 with `keys` (a string, or a list joined one per line). `follow`: answer with the
    page a browser shows next (without JS the 303 followed, kept in response.history)."""
    if isinstance(keys, (list, tuple)):
        keys = "\n".join(keys)
    return client.post("/claves-prepago/activar", data={"keys": keys}, headers=headers or {}, follow_redirects=follow)


def confirm(client, token, destination="mi_negocio", accept=True, headers=None, follow=False):
    """POST step 2's Confirmar; `follow` as for validate()."""
    data = {"token": token, "destination": destination}
    if accept:
        data["accept_license"] = "y"
    return client.post("/claves-prepago/activar/confirmar", data=data, headers=headers or {}, follow_redirects=follow)


from tests.conftest import REDIS_URL  # noqa: E402,F401 (the one Redis the suite shares)


def redis_or_skip():
    """The shared Redis, or a skip locally (a failure in CI): see tests.conftest.require_redis."""
    from tests.conftest import require_redis
    return require_redis()


def server_config(app, **extra):
    """What a gunicorn process needs to be the same portal as the test's app."""
    keep = ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "MAIL_SERVER", "MAIL_PORT", "MAIL_DIR", "PASSWORD_HASH_METHOD",
            "RATELIMIT_STORAGE_URI", "RATELIMIT_KEY_PREFIX", "STORE_URL")
    config = {name: app.config[name] for name in keep}
    config.update(TESTING=True, WTF_CSRF_ENABLED=False, INSTANCE_PATH=app.instance_path, **extra)
    return config


def signed_in_cookies(app, user, desk):
    """The session cookie a sign-in would give `user` in `desk` (sign-in itself is tested elsewhere)."""
    from portal.auth import sessions
    from portal.extensions import db

    signed_in = sessions.start(user)
    db.session.commit()
    serializer = app.session_interface.get_signing_serializer(app)
    return {app.config["SESSION_COOKIE_NAME"]: serializer.dumps({"_user_id": signed_in.get_id(), "_fresh": True,
                                                                 "desk_id": desk.id})}


# --- several processes: gunicorn, and rules called from separate interpreters --------------------

@contextlib.contextmanager
def gunicorn(config, workers=4, log=None, args=(), env=None, app="tests.prepaid_wsgi:app"):
    """The portal under gunicorn (sync workers) on a free loopback port; yields its base URL.

    `log`: a path that receives gunicorn's stdout and stderr (its error and access logs, the app's
    log lines); `args`: more gunicorn options (e.g. ["-c", "deploy/gunicorn.conf.py"]); `env`: more
    environment variables; `app`: the WSGI entry.
    """
    port = _free_port()
    env = {**os.environ, **(env or {}), "PORTAL_TEST_APP_CONFIG": json.dumps(config)}
    output = open(log, "ab") if log else None  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *args, "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
         "--chdir", str(ROOT), "--log-level", "warning", "--timeout", "60", app],
        env=env, stdout=output or subprocess.DEVNULL, stderr=output or subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/healthz", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass  # not listening yet, or the workers are still booting
            if process.poll() is not None or time.monotonic() > deadline:
                output_so_far = Path(log).read_bytes() if log else process.stderr.read()
                raise RuntimeError("gunicorn no arrancó: " + output_so_far.decode()[-2000:])
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if output:
            output.close()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def race(prepare, fire, jobs):
    """Run one spawned process per job: each prepare(job), all wait at a barrier, then each fire(state).

    Returns the outcomes of every job, in order. spawn, not fork: the test process runs threads.
    """
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(len(jobs)), context.Queue()
    processes = [context.Process(target=_racer, args=(prepare, fire, barrier, results, n, job), daemon=True)
                 for n, job in enumerate(jobs)]
    for process in processes:
        process.start()
    try:
        collected = dict(results.get(timeout=600) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    return [collected[n] for n in range(len(jobs))]


def _racer(prepare, fire, barrier, results, n, job):
    from tests.clock_helpers import follow_test_clock

    follow_test_clock()
    try:
        state = prepare(job)
        barrier.wait(timeout=300)
        results.put((n, fire(state)))
    except BaseException as error:  # noqa: BLE001 - the test reads it as an outcome and fails
        barrier.abort()
        results.put((n, [f"error: {type(error).__name__}: {error}"[:300]]))


def http_attempts(job):
    """prepare for race(): nothing to load; job is (base URL, [(cookies, step token, destination)])."""
    return job


def post_confirmations(job):
    """fire for race(): POST Confirmar for each attempt, each with its own session cookie, then GET
    the page it redirects to with the cookie it set, as a browser would. Each outcome: (the POST's
    status, its Location, the status and text of the page shown)."""
    base, attempts = job
    outcomes = []
    for cookies, token, destination in attempts:
        response = requests.post(base + "/claves-prepago/activar/confirmar", cookies=cookies, allow_redirects=False,
                                 data={"token": token, "destination": destination, "accept_license": "y"},
                                 timeout=120)
        location = response.headers.get("Location", "")
        shown = response
        if response.status_code == 303:
            shown = requests.get(urljoin(base + "/", location), cookies={**cookies, **response.cookies.get_dict()},
                                 allow_redirects=False, timeout=120)
        outcomes.append((response.status_code, location, shown.status_code, shown.text))
    return outcomes


def direct_attempts(job):
    """prepare for race(): the portal in this interpreter, inside a POST request as a view would be."""
    config, code, attempts = job
    from portal import create_app
    from portal.extensions import db
    from portal.models import Desk, User
    from portal.request_units import work_for
    from portal.units import enter

    app = create_app(config)
    # As inside a POST: a writing unit, on SQLite BEGIN IMMEDIATE (portal/units.py), as in production.
    context = app.test_request_context("/claves-prepago/activar/confirmar", method="POST")
    context.push()
    enter(db.session, work_for(None, "POST"))
    pairs = [(db.session.get(Desk, d), db.session.get(User, u), dest) for d, u, dest in attempts]
    db.session.rollback()  # each confirmation runs in its own transaction, as each request would
    return code, pairs


def call_confirm_key(state):
    """fire for race(): confirm_key for each (desk, user, destination); outcome "ok" or the error code."""
    from portal.prepaid.redemption import confirm_key

    code, pairs = state
    return claim_each(confirm_key, code, pairs)


def claim_each(claim, code, pairs):
    """claim(desk, user, code, destination, True) for each pair, each in its own transaction; the
    outcomes: "ok", the refusal's code, or "error: …"."""
    from portal import clock
    from portal.extensions import db
    from portal.prepaid.redemption import RedemptionError
    from tests.clock_helpers import TIMEZONE

    outcomes = []
    for desk, user, destination in pairs:
        try:
            claim(desk, user, code, destination, True, today=clock.today(TIMEZONE))
            db.session.commit()
            outcomes.append("ok")
        except RedemptionError as refusal:
            db.session.rollback()
            outcomes.append(refusal.code)
        except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
            db.session.rollback()
            outcomes.append(f"error: {type(error).__name__}: {error}"[:300])
    return outcomes
