"""``kiln projects``: the namespaces every record lives in, and their members."""

from __future__ import annotations

import typer

from kiln.cli._app import context
from kiln.cli._output import console, print_record, print_records

NAME = "projects"
HELP = "Projects and their members."
app = typer.Typer(no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List projects."""
    from kiln import auth

    records = context(ctx).db.read(auth.list_projects)
    print_records(records, ["name", "description", "created_at"], as_json=as_json)


@app.command("create")
def create(
    ctx: typer.Context,
    name: str,
    description: str = typer.Option("", "--description", "-d"),
    as_json: bool = JSON,
) -> None:
    """Create a project."""
    from kiln import auth

    print_record(context(ctx).db.run(auth.create_project, name, description), as_json=as_json)


@app.command("show")
def show(ctx: typer.Context, name: str, as_json: bool = JSON) -> None:
    """Show a project."""
    from kiln import auth

    print_record(context(ctx).db.read(auth.get_project, name), as_json=as_json)


@app.command("update")
def update(
    ctx: typer.Context, name: str, description: str = typer.Option(..., "--description", "-d")
) -> None:
    """Change a project's description."""
    from kiln import auth

    context(ctx).db.run(auth.update_project, name, description=description)
    console.print(f"project {name!r} updated")


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: str,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a project with its memberships and tokens."""
    from kiln import auth

    if not yes:
        typer.confirm(f"Delete project {name!r} and everything in it?", abort=True)
    context(ctx).db.run(auth.delete_project, name)
    console.print(f"project {name!r} deleted")


@app.command("members")
def members(ctx: typer.Context, project: str, as_json: bool = JSON) -> None:
    """List the members of a project and their roles."""
    from kiln import auth

    records = context(ctx).db.read(auth.list_members, project)
    print_records(records, ["user", "role", "created_at"], title=project, as_json=as_json)


@app.command("add-member")
def add_member(
    ctx: typer.Context,
    project: str,
    user: str,
    role: str = typer.Option("viewer", "--role", "-r", help="viewer, editor or admin."),
) -> None:
    """Give a user a role in a project (or change it)."""
    from kiln import auth

    member = context(ctx).db.run(auth.set_member, project, user, role)
    console.print(f"{member.user!r} is {member.role.value} in {member.project!r}")


@app.command("remove-member")
def remove_member(ctx: typer.Context, project: str, user: str) -> None:
    """Take a user out of a project; their tokens there stop working."""
    from kiln import auth

    context(ctx).db.run(auth.remove_member, project, user)
    console.print(f"{user!r} removed from {project!r}")
