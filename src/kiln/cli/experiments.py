"""``kiln experiments``: experiments of the current project."""

from __future__ import annotations

import typer

from kiln.cli._app import context
from kiln.cli._output import console, print_record, print_records

NAME = "experiments"
HELP = "Experiments: list, create, show, rename, delete, restore."
app = typer.Typer(no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


def _resolve(kiln: object, ref: str) -> str:
    """An experiment id from an id or a name."""
    from kiln.context import Context
    from kiln.tracking import _experiments

    assert isinstance(kiln, Context)
    if ref.isdigit():
        return ref
    return kiln.db.read(_experiments.get_experiment_by_name, kiln.settings.project, ref).id


@app.command("list")
def list_(
    ctx: typer.Context,
    include_deleted: bool = typer.Option(False, "--all", help="Include deleted experiments."),
    as_json: bool = JSON,
) -> None:
    """List experiments."""
    from kiln.tracking import _experiments

    kiln = context(ctx)
    found = kiln.db.read(
        _experiments.list_experiments, kiln.settings.project, include_deleted=include_deleted
    )
    print_records(
        found, ["id", "name", "lifecycle_stage", "created_at", "description"], as_json=as_json
    )


@app.command("create")
def create(
    ctx: typer.Context,
    name: str,
    description: str = typer.Option("", "--description", "-d"),
    as_json: bool = JSON,
) -> None:
    """Create an experiment."""
    from kiln.tracking import _experiments

    kiln = context(ctx)
    created = kiln.db.run(
        _experiments.create_experiment, kiln.settings.project, name, description=description
    )
    print_record(created, as_json=as_json)


@app.command("show")
def show(ctx: typer.Context, experiment: str, as_json: bool = JSON) -> None:
    """Show an experiment (by id or name)."""
    from kiln.tracking import _experiments

    kiln = context(ctx)
    found = kiln.db.read(
        _experiments.get_experiment, kiln.settings.project, _resolve(kiln, experiment)
    )
    print_record(found, as_json=as_json)


@app.command("rename")
def rename(ctx: typer.Context, experiment: str, new_name: str) -> None:
    """Rename an experiment."""
    from kiln.tracking import _experiments

    kiln = context(ctx)
    kiln.db.run(
        _experiments.update_experiment,
        kiln.settings.project,
        _resolve(kiln, experiment),
        name=new_name,
    )
    console.print(f"experiment renamed to {new_name!r}", highlight=False)


@app.command("delete")
def delete(ctx: typer.Context, experiment: str) -> None:
    """Delete (hide) an experiment and its runs; `restore` brings them back."""
    from kiln.tracking import _experiments
    from kiln.tracking._entities import LifecycleStage

    kiln = context(ctx)
    kiln.db.run(
        _experiments.set_experiment_lifecycle,
        kiln.settings.project,
        _resolve(kiln, experiment),
        LifecycleStage.DELETED,
    )
    console.print(f"experiment {experiment!r} deleted", highlight=False)


@app.command("restore")
def restore(ctx: typer.Context, experiment: str) -> None:
    """Restore a deleted experiment."""
    from kiln.tracking import _experiments
    from kiln.tracking._entities import LifecycleStage

    kiln = context(ctx)
    kiln.db.run(
        _experiments.set_experiment_lifecycle,
        kiln.settings.project,
        _resolve(kiln, experiment),
        LifecycleStage.ACTIVE,
    )
    console.print(f"experiment {experiment!r} restored", highlight=False)
