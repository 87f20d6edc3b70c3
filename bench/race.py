"""The confirmation race: both users confirm the same fresh keys at once, and the database decides.

A key holds one desk: the tally counts the keys that left `nueva` against the success notices and
the confirmation e-mails; more notices or e-mails than keys is a double activation.
"""
import dataclasses
import re
import sys
import time

from bench.context import request_items, write_script
from bench.wrk import wrk, wrk_result


def probe_through_step_one(ctx, route, session):
    """The confirmation's probe goes the user's way: step 1 validates a key and its answer's token is posted."""
    if not ctx.pools.probe_keys:
        return []
    code = ctx.pools.probe_keys[0]
    status, _headers, body, _ = session.request(
        "POST", "/claves-prepago/activar", headers={"HX-Request": "true"},
        form={"csrf_token": ctx.tokens.get(route.user) or "", "keys": code})
    match = re.search(rb'name="token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="token"', body)
    if status != 200 or not match:
        return [{"code": code, "token": ""}]  # the confirmation's own probe then says what is missing
    return [{"code": code, "token": (match.group(1) or match.group(2)).decode()}]


def step_tokens(secret_key, desk_id, user_id, key_codes):
    """{code: step token}: what step 1 gives each validated key, signed by the app's own function.

    The race measures Confirmar alone; thousands of step-1 requests first would only add minutes
    (step 1 is measured as its own route, and the probe above goes through it for real).
    """
    from types import SimpleNamespace

    from flask import Flask

    from portal.prepaid.steps import make_step_token

    app = Flask("bench-steps")
    app.config["SECRET_KEY"] = secret_key
    desk, user = SimpleNamespace(id=desk_id), SimpleNamespace(id=user_id)
    with app.app_context():
        return {code: make_step_token(desk, user, [code]) for code in key_codes}


def race(ctx, route, duration):
    """Both users confirm the same fresh keys at once, 8 connections each; the database decides."""
    codes = ctx.pools.race_keys
    if not codes:
        return {"note": "not enough fresh keys left: run make bench-data"}
    scripts = []
    for who in ("big", "second"):
        route_for = dataclasses.replace(route, user=who)
        session = ctx.sessions[who]
        tokens = step_tokens(ctx.server.secret_key, ctx.pools.desk_ids[who], ctx.pools.user_ids[who], codes)
        items = request_items(ctx, route_for, session, [{"code": c, "token": tokens[c]} for c in codes])
        scripts.append(write_script(ctx, route_for, session, items, marker=route.expect))
    before = _tally(ctx.pools.url, codes)
    runs = [wrk(ctx.server.port, script, 8, duration, background=True) for script in scripts]
    figures = [wrk_result(run) for run in runs]
    ctx.server.wait_idle()
    after = _settled_tally(ctx.pools.url, codes)
    seconds = max(f["seconds"] for f in figures)
    confirmed = after["confirmed"] - before["confirmed"]
    successes = sum(f["marks"] for f in figures)
    mails = after["mails"] - before["mails"]
    print(f"    {confirmed} claves confirmadas en {seconds:.1f} s; {successes} avisos de éxito; {mails} correos; "
          f"{figures[0]['statuses']} {figures[1]['statuses']}", file=sys.stderr)
    return {"race": {"users": figures, "keys_offered": len(codes), "keys_confirmed": confirmed,
                     "per_desk": after["per_desk"], "success_notices": successes, "mails": mails,
                     "seconds": seconds},
            "confirmed_per_s": round(confirmed / seconds, 1),
            # A key holds one desk; a double activation shows as more success notices (or confirmation
            # e-mails) than keys that left `nueva`.
            "doubles": max(0, successes - confirmed, mails - confirmed)}


def _settled_tally(url, codes):
    """The tally once the requests wrk left in flight have finished (two equal readings in a row)."""
    previous = None
    for _ in range(30):
        time.sleep(0.5)
        current = _tally(url, codes)
        if current == previous:
            return current
        previous = current
    return previous


def _tally(url, codes):
    """How many of `codes` left `nueva` (by desk), and how much mail is queued: one statement, one snapshot."""
    from sqlalchemy import bindparam, create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT desk_id, count(*), (SELECT count(*) FROM outbox_messages) FROM prepaid_keys "
            "WHERE code IN :codes AND status <> 'nueva' GROUP BY desk_id "
            "UNION ALL SELECT NULL, 0, (SELECT count(*) FROM outbox_messages)").bindparams(
            bindparam("codes", expanding=True)), {"codes": codes}).all()
    engine.dispose()
    return {"confirmed": sum(n for _d, n, _m in rows), "mails": rows[0][2],
            "per_desk": {str(d): n for d, n, _m in rows if d is not None}}
