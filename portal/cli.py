"""Command line: `flask portal demo`, `flask outbox deliver [--loop]`."""
import click
from flask import current_app
from flask.cli import AppGroup

portal_cli = AppGroup("portal", help="Datos del portal.")
outbox_cli = AppGroup("outbox", help="Buzón de salida de correo.")


@portal_cli.command("demo")
def demo_command():
    """Load the demo desks, systems and keys (idempotent; refused in production)."""
    from portal.demo import DemoRefused, load_demo

    try:
        result = load_demo()
    except DemoRefused as refusal:
        raise click.ClickException(str(refusal)) from None
    click.echo(result.summary())


@outbox_cli.command("deliver")
@click.option("--loop", is_flag=True, help="Seguir repartiendo (proceso trabajador).")
@click.option("--interval", default=2.0, show_default=True, help="Segundos entre rondas sin correo.")
def deliver_command(loop, interval):
    """Deliver the pending e-mail (SMTP when MAIL_SERVER is set, .eml files otherwise)."""
    from portal.mail.outbox import deliver_pending, run_worker

    if loop:
        click.echo("Repartiendo correo; Ctrl+C para terminar.")
        run_worker(interval=interval)
        return
    total_sent = total_failed = 0
    while True:
        sent, failed = deliver_pending()
        total_sent += sent
        total_failed += failed
        if not sent and not failed:
            break
        if failed and not sent:
            break  # the server is down: the rest waits for its backoff
    where = current_app.config["MAIL_SERVER"] or current_app.config["MAIL_DIR"]
    click.echo(f"Enviados: {total_sent}; con error: {total_failed} ({where}).")


def init_app(app):
    app.cli.add_command(portal_cli)
    app.cli.add_command(outbox_cli)
