"""``kiln datasets``: versioned datasets of the current project (read-only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from kiln.cli._app import context
from kiln.cli._output import console, print_json, print_records

if TYPE_CHECKING:
    from kiln.data import ColumnProfile

NAME = "datasets"
HELP = "Datasets: list, versions, show, profile."
app = typer.Typer(no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List the project's datasets."""
    from kiln.data import _datasets

    kiln = context(ctx)
    found = kiln.db.read(_datasets.list_datasets, kiln.settings.project)
    print_records(found, ["name", "latest_version", "updated_at", "description"], as_json=as_json)


@app.command("versions")
def versions(ctx: typer.Context, name: str, as_json: bool = JSON) -> None:
    """List a dataset's versions, newest first."""
    from rich.table import Table

    from kiln.data import _datasets
    from kiln.data._names import check_dataset_name

    kiln = context(ctx)
    check_dataset_name(name)
    found = kiln.db.read(_datasets.list_versions, kiln.settings.project, name)
    if as_json:
        print_json([v.to_dict() for v in found])
        return
    table = Table(header_style="bold")
    for column in ("version", "id", "rows", "columns", "bytes", "source", "created", "by"):
        table.add_column(column)
    for v in found:
        table.add_row(
            str(v.version),
            v.version_id[:12],
            f"{v.num_rows:,}",
            str(v.num_columns),
            f"{v.num_bytes:,}",
            v.source or v.source_type,
            v.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            v.created_by or "-",
        )
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="name, name@latest, name@3 or name@<id prefix>."),
    as_json: bool = JSON,
) -> None:
    """Show a version: schema, rows, bytes, source and blobs."""
    from rich.table import Table

    from kiln.data import _datasets

    kiln = context(ctx)
    version = kiln.db.read(_datasets.get_version, kiln.settings.project, ref)
    if as_json:
        print_json(version.to_dict())
        return
    console.print(
        f"[bold]{version.uri}[/] ({version.version_id})\n"
        f"rows: {version.num_rows:,}, columns: {version.num_columns}, "
        f"bytes: {version.num_bytes:,}\n"
        f"source: {version.source_type} {version.source}\n"
        f"created: {version.created_at.strftime('%Y-%m-%d %H:%M:%S')} "
        f"by {version.created_by or '-'}",
        highlight=False,
    )
    schema = Table(title="schema", header_style="bold")
    for column in ("column", "type", "nullable"):
        schema.add_column(column)
    for field in version.schema:
        schema.add_row(field.name, field.type, "yes" if field.nullable else "no")
    console.print(schema)
    blobs = Table(title="blobs", header_style="bold")
    for column in ("digest", "rows", "bytes", "path"):
        blobs.add_column(column)
    for blob in version.blobs:
        blobs.add_row(blob.digest, f"{blob.rows:,}", f"{blob.size:,}", blob.path or "-")
    console.print(blobs)


def _stat(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _top(column: ColumnProfile, limit: int = 5) -> str:
    shown = ", ".join(f"{value} ({count:,})" for value, count in column.top[:limit])
    rest = len(column.top) - limit
    if rest > 0:
        shown += f", … {rest} more"
    return shown or "-"


@app.command("profile")
def profile(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="name, name@latest, name@3 or name@<id prefix>."),
    as_json: bool = JSON,
) -> None:
    """Statistics per column of a version: nulls, min/max/mean, top categories."""
    from rich.table import Table

    from kiln.data import _service

    kiln = context(ctx)
    found = _service.profile(kiln.db, kiln.artifacts, kiln.settings.project, ref)
    if as_json:
        print_json(found.to_dict())
        return
    console.print(
        f"[bold]{found.dataset}@{found.version}[/]: {found.num_rows:,} rows, "
        f"{found.num_columns} columns",
        highlight=False,
    )
    table = Table(header_style="bold")
    for header in ("column", "type", "kind", "nulls", "distinct", "min", "max", "mean", "top"):
        table.add_column(header)
    for column in found:
        table.add_row(
            column.name,
            column.type,
            column.kind,
            f"{column.nulls:,} ({column.null_rate:.1%})",
            _stat(column.distinct),
            _stat(column.min),
            _stat(column.max),
            _stat(column.mean),
            _top(column),
        )
    console.print(table)
