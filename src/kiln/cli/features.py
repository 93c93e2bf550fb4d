"""``kiln features``: register feature definitions from code and list the current ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

from kiln.cli._app import context
from kiln.cli._output import console, print_json, print_records

NAME = "features"
HELP = "Feature store: apply definitions, list them."
app = typer.Typer(no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


@dataclass(frozen=True)
class Listed:
    """One row of ``kiln features list``."""

    kind: str
    name: str
    owner: str
    detail: str


@app.command("apply")
def apply(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="A Python file of definitions, or a folder of them."),
    as_json: bool = JSON,
) -> None:
    """Register the entities, feature views and services defined at PATH; print the diff."""
    import getpass

    from kiln.features._loading import load_definitions
    from kiln.features._registry import apply_definitions

    kiln = context(ctx)
    definitions = load_definitions(path)
    result = kiln.db.run(
        apply_definitions, kiln.settings.project, definitions, user=getpass.getuser()
    )
    if as_json:
        print_json(
            {
                change: [
                    {"kind": k, "name": n, "version": v} for k, n, v in getattr(result, change)
                ]
                for change in ("added", "changed", "removed", "unchanged")
            }
        )
        return
    for change, mark in (("added", "+"), ("changed", "~"), ("removed", "-")):
        for kind, name, version in getattr(result, change):
            console.print(f"{mark} {kind} {name} (v{version}) {change}", highlight=False)
    console.print(
        f"{len(result.added)} added, {len(result.changed)} changed, {len(result.removed)} "
        f"removed, {len(result.unchanged)} unchanged",
        highlight=False,
    )


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
    """The project's current definitions, as the latest apply left them."""
    from kiln.features._registry import current_definitions

    kiln = context(ctx)
    found = kiln.db.read(current_definitions, kiln.settings.project)
    records = [
        Listed("entity", e.name, e.owner, ", ".join(e.join_keys)) for e in found.entities.values()
    ]
    records += [
        Listed(
            "feature_view", v.name, v.owner, ", ".join(f"{f.name}:{f.dtype}" for f in v.features)
        )
        for v in found.views.values()
    ]
    records += [
        Listed("feature_service", s.name, s.owner, ", ".join(s.references()))
        for s in found.services.values()
    ]
    print_records(records, ["kind", "name", "owner", "detail"], as_json=as_json)
