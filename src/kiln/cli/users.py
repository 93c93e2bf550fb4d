"""``kiln users``: accounts. The first administrator is created here."""

from __future__ import annotations

import typer

from kiln.cli._app import context
from kiln.cli._output import print_record, print_records

NAME = "users"
HELP = "User accounts (create the first administrator here)."
app = typer.Typer(no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List users."""
    from kiln import auth

    records = context(ctx).db.read(auth.list_users)
    print_records(records, ["name", "email", "is_admin", "disabled", "created_at"], as_json=as_json)


@app.command("create")
def create(
    ctx: typer.Context,
    name: str,
    email: str | None = typer.Option(None, "--email"),
    admin: bool = typer.Option(False, "--admin", help="May create projects and users."),
    as_json: bool = JSON,
) -> None:
    """Create a user. There is no password: users authenticate with API tokens."""
    from kiln import auth

    user = context(ctx).db.run(auth.create_user, name, email=email, is_admin=admin)
    print_record(user, as_json=as_json)


@app.command("show")
def show(ctx: typer.Context, name: str, as_json: bool = JSON) -> None:
    """Show a user."""
    from kiln import auth

    print_record(context(ctx).db.read(auth.get_user, name), as_json=as_json)


@app.command("update")
def update(
    ctx: typer.Context,
    name: str,
    email: str | None = typer.Option(None, "--email"),
    admin: bool | None = typer.Option(None, "--admin/--no-admin"),
    disabled: bool | None = typer.Option(None, "--disable/--enable"),
    as_json: bool = JSON,
) -> None:
    """Change a user's e-mail or admin flag, or disable them (their tokens stop working)."""
    from kiln import auth

    user = context(ctx).db.run(
        auth.update_user, name, email=email, is_admin=admin, disabled=disabled
    )
    print_record(user, as_json=as_json)
