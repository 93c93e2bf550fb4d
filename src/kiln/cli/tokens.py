"""``kiln tokens``: API tokens for the server and remote clients."""

from __future__ import annotations

from datetime import timedelta

import typer

from kiln.cli._app import context
from kiln.cli._output import console, print_json, print_records

NAME = "tokens"
HELP = "API tokens: create, list, revoke."
app = typer.Typer(no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    user: str = typer.Option(..., "--user", "-u", help="Owner of the token."),
    project: str | None = typer.Option(None, "--project", "-p", help="Default: KILN_PROJECT."),
    role: str | None = typer.Option(
        None, "--role", "-r", help="viewer, editor or admin; default: the user's role there."
    ),
    name: str = typer.Option("", "--name", "-n", help="What the token is for."),
    expires_in_days: float | None = typer.Option(None, "--expires-in-days", min=0.0001),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Issue a token. The secret is printed once; Kiln keeps only its hash."""
    from kiln import auth
    from kiln.db import utcnow

    kiln = context(ctx)
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    new = kiln.db.run(
        auth.create_token,
        user,
        project or kiln.settings.project,
        role,
        name=name,
        expires_at=expires_at,
    )
    if as_json:
        print_json(new)
        return
    token = new.token
    console.print(
        f"token [bold]{token.id}[/] for {token.user!r}: {token.role.value} in {token.project!r}"
        + (f", expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else ""),
        highlight=False,
    )
    console.print("Store it now; it will not be shown again:", style="yellow")
    print(new.secret)


@app.command("list")
def list_(
    ctx: typer.Context,
    user: str | None = typer.Option(None, "--user", "-u"),
    project: str | None = typer.Option(None, "--project", "-p"),
    include_revoked: bool = typer.Option(False, "--all", help="Include revoked tokens."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List tokens (never their secrets)."""
    from kiln import auth

    records = context(ctx).db.read(
        auth.list_tokens, user=user, project=project, include_revoked=include_revoked
    )
    columns = ["id", "name", "user", "project", "role", "created_at", "expires_at"]
    columns += ["last_used_at", "revoked_at"]
    print_records(records, columns, as_json=as_json)


@app.command("revoke")
def revoke(ctx: typer.Context, token_id: str) -> None:
    """Revoke a token by its id; requests with it are refused from then on."""
    from kiln import auth

    token = context(ctx).db.run(auth.revoke_token, token_id)
    console.print(f"token {token.id} of {token.user!r} revoked", highlight=False)
