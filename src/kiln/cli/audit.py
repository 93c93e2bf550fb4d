"""``kiln audit``: read the audit log."""

from __future__ import annotations

from datetime import datetime

import typer

from kiln.cli._app import context
from kiln.cli._output import print_records

NAME = "audit"
HELP = "The audit log of mutating API calls."
app = typer.Typer(no_args_is_help=False, invoke_without_command=True)


@app.callback(invoke_without_command=True)
def show(
    ctx: typer.Context,
    project: str | None = typer.Option(None, "--project", "-p", help="Default: every project."),
    actor: str | None = typer.Option(None, "--actor"),
    action: str | None = typer.Option(None, "--action"),
    since: datetime | None = typer.Option(None, "--since", help="UTC, e.g. 2026-11-01."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show the newest audit entries."""
    from datetime import UTC

    from kiln import auth

    entries = context(ctx).db.read(
        auth.list_entries,
        project=project,
        actor=actor,
        action=action,
        since=since.replace(tzinfo=UTC) if since and since.tzinfo is None else since,
        limit=limit,
    )
    columns = ["id", "at", "actor", "project", "action", "target", "status_code", "outcome"]
    print_records(entries, columns, as_json=as_json)
