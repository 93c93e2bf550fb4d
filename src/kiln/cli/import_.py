"""``kiln import``: bring data from other platforms into Kiln (MLflow today)."""

from __future__ import annotations

import typer

from kiln.cli._app import context
from kiln.cli._output import console, print_json

NAME = "import"
HELP = "Import from other platforms: mlflow."
app = typer.Typer(no_args_is_help=True)


@app.command("mlflow")
def mlflow_(
    ctx: typer.Context,
    source: str = typer.Option(
        ...,
        "--from",
        help="MLflow tracking URI or database URL: sqlite:///mlflow.db, postgresql://…, "
        "file:./mlruns, http://mlflow:5000.",
    ),
    experiments: list[str] = typer.Option(
        [], "--experiments", "-e", help="MLflow experiment name to import; repeatable."
    ),
    registry: bool = typer.Option(
        True, "--registry/--no-registry", help="Also import models, versions and aliases."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what is new; write nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Copy MLflow experiments, runs, artifacts and registry; a second import adds only new."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from kiln.migration import import_mlflow

    kiln = context(ctx)
    with Progress(
        TextColumn("[bold]runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task("reading the source", total=None)

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        summary = import_mlflow(
            kiln,
            source,
            experiments=experiments or None,
            registry=registry,
            dry_run=dry_run,
            progress=progress,
        )
    if as_json:
        print_json(summary)
        return
    title = f"MLflow import from {source}" + (" (dry run: nothing written)" if dry_run else "")
    table = Table(title=title, header_style="bold")
    table.add_column("")
    table.add_column("count", justify="right")
    for label, value in summary.rows():
        table.add_row(label, value)
    console.print(table)
    for old, new in sorted(summary.renamed_keys.items()):
        console.print(f"renamed key {old!r} -> {new!r}", highlight=False)
    for item in summary.skipped:
        console.print(f"[yellow]skipped[/] {item}", highlight=False)
    if summary.nothing_new:
        console.print("Nothing new to import: Kiln already has everything.")
