"""``kiln db``: the metadata store's schema."""

from __future__ import annotations

import typer

from kiln.cli._app import context
from kiln.cli._output import console

NAME = "db"
HELP = "Metadata store schema: upgrade and inspect."
app = typer.Typer(no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    revision: str = typer.Option("head", help="Revision to upgrade to."),
) -> None:
    """Apply pending migrations to the metadata store."""
    kiln = context(ctx)
    before, _head = kiln.db.revision()
    reached = kiln.db.upgrade(revision)
    if before == reached:
        console.print(f"{kiln.db!r} is up to date at revision {reached}", highlight=False)
    else:
        console.print(
            f"{kiln.db!r} upgraded from {before or 'empty'} to {reached}", highlight=False
        )


@app.command("current")
def current(ctx: typer.Context) -> None:
    """Show the schema revision of the store and the one this Kiln needs."""
    kiln = context(ctx)
    revision, head = kiln.db.revision()
    state = "up to date" if revision == head else "needs `kiln db upgrade`"
    console.print(f"store at {revision or 'empty'}, Kiln needs {head}: {state}", highlight=False)
