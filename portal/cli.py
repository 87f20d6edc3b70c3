"""Command line: `flask portal demo | token | import | alerts`, `flask outbox deliver [--loop]`."""
import click
from flask import current_app
from flask.cli import AppGroup

from portal import clock, metrics
from portal.units import Work, unit_of_work


def writes(command):
    """A command that writes runs as one writing unit: SQLite takes its write lock at BEGIN, so a
    concurrent writer (a page, the worker, another run) is waited for instead of refusing it."""
    from functools import wraps

    @wraps(command)
    def run(*args, **kwargs):
        from portal.extensions import db

        with unit_of_work(db.session, Work.WRITES):
            return command(*args, **kwargs)

    return run


class JobGroup(AppGroup):
    """A command group whose every run logs under an ID of its own ("cli-…"), as a request does."""

    def invoke(self, ctx):
        from portal import request_ids

        with request_ids.bound("cli-" + request_ids.new_id()):
            return super().invoke(ctx)


portal_cli = JobGroup("portal", help="Datos del portal.")
outbox_cli = JobGroup("outbox", help="Buzón de salida de correo.")


@portal_cli.command("demo")
@writes
def demo_command():
    """Load the demo desks, systems and keys (idempotent; refused in production); print where to sign in."""
    from portal.demo import DemoRefused, load_demo

    try:
        result = load_demo(clock.today(current_app.config["TIMEZONE"]))
    except DemoRefused as refusal:
        raise click.ClickException(str(refusal)) from None
    click.echo(result.summary(current_app.config["PORTAL_URL"]))


@outbox_cli.command("purge")
@click.option("--older-than", "days", type=click.IntRange(min=0), required=True, metavar="DAYS",
              help="Borrar los mensajes enviados o fallidos con más de DAYS días.")
@writes
def purge_command(days):
    """Delete sent and failed messages older than DAYS days (pending ones are kept)."""
    from datetime import timedelta

    from portal.mail.outbox import purge

    click.echo(f"Mensajes borrados: {purge(timedelta(days=days))}.")


@outbox_cli.command("deliver")
@click.option("--loop", is_flag=True, help="Seguir repartiendo (proceso trabajador).")
@click.option("--interval", default=2.0, show_default=True, help="Segundos entre rondas sin correo.")
def deliver_command(loop, interval):
    """Deliver the pending e-mail (SMTP when MAIL_SERVER is set, .eml files otherwise)."""
    from portal.mail.outbox import deliver_round, run_worker

    if loop:
        click.echo("Repartiendo correo; Ctrl+C para terminar.")
        run_worker(interval=interval, every=(current_app.config["ALERTS_INTERVAL"], run_alerts_now))
        return
    total_sent = total_failed = 0
    while True:
        sent, failed = deliver_round()
        total_sent += sent
        total_failed += failed
        if not sent and not failed:
            break
        if failed and not sent:
            break  # the server is down: the rest waits for its backoff
    where = current_app.config["MAIL_SERVER"] or current_app.config["MAIL_DIR"]
    click.echo(f"Enviados: {total_sent}; con error: {total_failed} ({where}).")


@portal_cli.command("alerts")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), help="El día AAAA-MM-DD (por omisión hoy en TIMEZONE).")
def alerts_command(today):
    """Raise the renewal, expiry and stamp alerts due today and queue their mails (each alert once)."""
    report = run_alerts_now(today.date() if today else None)
    click.echo(f"Avisos nuevos: {report.alerts}; correos en cola: {report.mails}.")


def run_alerts_now(today=None):
    """One committed run of the alerts for `today` (default: today in TIMEZONE)."""
    from portal.alerts.run import run_alerts
    from portal.extensions import db

    config = current_app.config
    # A writing unit: concurrent runs queue for SQLite's write lock instead of failing.
    with unit_of_work(db.session, Work.WRITES):
        report = run_alerts(today or clock.today(config["TIMEZONE"]), store_url=config["STORE_URL"],
                            tz_name=config["TIMEZONE"])
        db.session.commit()
    metrics.alerts_run_finished(clock.now(), report.mails)
    return report


token_cli = AppGroup("token", help="Tokens de la API del back office (/api/v1).")
portal_cli.add_command(token_cli)


@token_cli.command("create")
@click.option("--name", required=True, help="Quién lo usa, p. ej. billing.")
@click.option("--scope", "scopes", required=True, help="Alcances separados por comas, p. ej. desks:write,keys:write.")
@writes
def token_create_command(name, scopes):
    """Create an API token and print it this once (only its hash is kept)."""
    from portal.backoffice.tokens import TokenRefused, create_token
    from portal.extensions import db

    try:
        token, secret = create_token(name, scopes.split(","))
    except TokenRefused as refusal:
        raise click.ClickException(str(refusal)) from None
    db.session.commit()
    click.echo(f"Token «{token.name}» creado con alcances: {token.scopes.replace(',', ', ')}.")
    click.echo("Guárdalo ahora: no se volverá a mostrar.")
    click.echo(secret)


@token_cli.command("list")
def token_list_command():
    """List the API tokens: name, scopes, created, last used, state (never the token)."""
    from portal.backoffice.tokens import list_tokens

    tokens = list_tokens()
    if not tokens:
        click.echo("No hay tokens.")
    for token in tokens:
        used = token.last_used_at.strftime("%d/%m/%Y %H:%M") if token.last_used_at else "nunca"
        state = "revocado " + token.revoked_at.strftime("%d/%m/%Y") if token.revoked_at else "activo"
        click.echo(f"{token.name}\t{token.scopes}\tcreado {token.created_at:%d/%m/%Y}\túltimo uso {used}\t{state}")


@token_cli.command("revoke")
@click.argument("name")
@writes
def token_revoke_command(name):
    """Revoke an API token at once; calls with it get 401 from then on."""
    from portal.backoffice.tokens import TokenRefused, revoke_token
    from portal.extensions import db

    try:
        revoked = revoke_token(name)
    except TokenRefused as refusal:
        raise click.ClickException(str(refusal)) from None
    db.session.commit()
    click.echo(f"Token «{name}» revocado." if revoked else f"El token «{name}» ya estaba revocado.")


@portal_cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--kind", type=click.Choice(["desks", "services", "keys"]), help="Qué contiene (si el nombre no lo dice).")
@click.option("--dry-run", is_flag=True, help="Revisar sin guardar nada.")
def import_command(files, kind, dry_run):
    """Import desks.csv, services.csv or keys.csv with the API's rules; a file with any bad row changes nothing."""
    from portal.backoffice.importer import ImportRefused, import_csv, kind_of
    from portal.extensions import db

    failed = False
    # Links in e-mail come from PORTAL_URL (portal.urls.public_url), never from a request.
    with unit_of_work(db.session, Work.WRITES):
        for path in files:
            try:
                file_kind = kind or kind_of(path)
                with open(path, encoding="utf-8-sig", newline="") as handle:
                    report = import_csv(file_kind, handle.read(), today=clock.today(current_app.config["TIMEZONE"]),
                                        dry_run=dry_run)
            except (ImportRefused, UnicodeDecodeError) as refusal:
                message = "no está en UTF-8" if isinstance(refusal, UnicodeDecodeError) else str(refusal)
                click.echo(f"{path}: {message}", err=True)
                failed = True
                continue
            for line, message in report.errors:
                click.echo(f"{path}, línea {line}: {message}", err=True)
            summary = (f"{_count(report.rows, 'fila')}: {_count(report.created, 'nueva')}, "
                       f"{_count(report.updated, 'actualizada')}, {report.unchanged} sin cambios")
            if report.errors:
                failed = True
                bad = len({line for line, _message in report.errors})
                click.echo(f"{path}: {bad} de {_count(bad + report.rows, 'fila')} con errores; no se importó nada.",
                           err=True)
            elif dry_run:
                click.echo(f"{path}: revisión sin errores; no se guardó nada ({summary}).")
            else:
                click.echo(f"{path}: importado ({summary}).")
    if failed:
        raise SystemExit(1)


def _count(number, word):
    """"1 fila", "3 filas"."""
    return f"{number} {word}" + ("" if number == 1 else "s")


def init_app(app):
    app.cli.add_command(portal_cli)
    app.cli.add_command(outbox_cli)
