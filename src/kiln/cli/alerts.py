"""``kiln alerts``: what needs a person (a paused quality gate, …), and closing it."""

from __future__ import annotations

import typer

from kiln.cli._app import context
from kiln.cli._output import console, print_json, print_records

NAME = "alerts"
HELP = "Alerts: list, show, accept, resolve."
app = typer.Typer(no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


@app.command("list")
def list_(
    ctx: typer.Context,
    status: str | None = typer.Option(None, "--status", help="OPEN, ACCEPTED or RESOLVED."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000),
    as_json: bool = JSON,
) -> None:
    """List alerts, newest first."""
    from kiln.alerts import list_alerts

    kiln = context(ctx)
    found = kiln.db.read(list_alerts, kiln.settings.project, status=status, limit=limit)
    print_records(
        found, ["id", "status", "severity", "kind", "title", "created_at"], as_json=as_json
    )


@app.command("show")
def show(ctx: typer.Context, alert_id: int, as_json: bool = JSON) -> None:
    """Show an alert: its subject, the failed checks and where its report is."""
    from rich.markup import escape

    from kiln.alerts import get_alert

    kiln = context(ctx)
    alert = kiln.db.read(get_alert, kiln.settings.project, alert_id)
    if as_json:
        print_json(alert)
        return
    console.print(
        f"[bold]alert {alert.id}[/] {alert.status.value}: {escape(alert.title)}", highlight=False
    )
    console.print(f"about {alert.subject_kind}:{alert.subject_id}", highlight=False)
    for check in alert.details.get("failures", []):
        column = f"[{check.get('column')}]" if check.get("column") else ""
        line = f"  ✗ {check.get('name')}{column}: {check.get('detail')}"
        console.print(escape(line), highlight=False)
    if alert.report_digest:
        path = kiln.artifacts.backend.location
        console.print(f"report: blob {alert.report_digest} in {path}", highlight=False)
    if alert.resolved_by:
        console.print(
            f"closed by {alert.resolved_by} at {alert.resolved_at}: {alert.resolution}",
            highlight=False,
        )


def _close(ctx: typer.Context, alert_id: int, status: str, note: str) -> None:
    import getpass

    from kiln.alerts import resolve_alert

    kiln = context(ctx)
    alert = kiln.db.run(
        resolve_alert,
        kiln.settings.project,
        alert_id,
        status=status,
        by=getpass.getuser(),
        resolution=note,
    )
    console.print(f"alert {alert.id} {alert.status.value}", highlight=False)


@app.command("accept")
def accept(ctx: typer.Context, alert_id: int, note: str = typer.Option("", "--note")) -> None:
    """Close an alert as ACCEPTED (to let a paused run through, use `kiln pipelines resume
    RUN --accept`, which does this too)."""
    _close(ctx, alert_id, "ACCEPTED", note)


@app.command("resolve")
def resolve(ctx: typer.Context, alert_id: int, note: str = typer.Option("", "--note")) -> None:
    """Close an alert as RESOLVED (the cause was fixed)."""
    _close(ctx, alert_id, "RESOLVED", note)
