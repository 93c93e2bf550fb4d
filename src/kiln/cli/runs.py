"""``kiln runs``: find, inspect, compare and delete runs."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

from kiln.cli._app import context
from kiln.cli._output import console, print_json

if TYPE_CHECKING:
    from kiln.tracking import Run

NAME = "runs"
HELP = "Runs: list (search), show, compare, delete, restore."
app = typer.Typer(no_args_is_help=True)


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _number(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.6g}"


def _run_json(run: Run) -> dict[str, Any]:
    from kiln.tracking._wire import run_to_json

    return run_to_json(run)


@app.command("list")
def list_(
    ctx: typer.Context,
    experiment: list[str] = typer.Option([], "--experiment", "-e", help="Name or id; repeatable."),
    filter_string: str = typer.Option("", "--filter", "-f", help='e.g. "metrics.auc > 0.8"'),
    order_by: list[str] = typer.Option([], "--order-by", "-o", help='e.g. "metrics.auc DESC"'),
    max_results: int = typer.Option(50, "--max", "-n", min=1, max=50_000),
    view: str = typer.Option("active_only", "--view", help="active_only, deleted_only or all."),
    columns: list[str] = typer.Option(
        [], "--column", "-c", help="Extra columns: metrics.x, params.y, tags.z."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Search runs with the filter language (see docs/tracking.md)."""
    from rich.table import Table

    from kiln.tracking import _experiments, _search

    kiln = context(ctx)
    project = kiln.settings.project
    ids = [
        e if e.isdigit() else kiln.db.read(_experiments.get_experiment_by_name, project, e).id
        for e in experiment
    ]
    runs, _token = kiln.db.read(
        _search.search_runs,
        project,
        ids,
        filter_string=filter_string,
        order_by=order_by,
        max_results=max_results,
        run_view=view,
    )
    if as_json:
        print_json([_run_json(r) for r in runs])
        return
    table = Table(header_style="bold")
    for column in ("run id", "name", "status", "started", *columns):
        table.add_column(column)
    for run in runs:
        table.add_row(
            run.id,
            run.name,
            run.status.value,
            _when(run.start_time),
            *(_column(run, column) for column in columns),
        )
    console.print(table)


def _column(run: Run, column: str) -> str:
    kind, _, key = column.partition(".")
    if kind in ("metrics", "metric"):
        metric = run.metrics.get(key)
        return _number(metric.value) if metric else "-"
    if kind in ("params", "param"):
        return run.params.get(key, "-")
    if kind in ("tags", "tag"):
        return run.tags.get(key, "-")
    return "?"


@app.command("show")
def show(ctx: typer.Context, run_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show a run: status, params, latest metrics, tags, inputs and artifacts."""
    from rich.table import Table

    from kiln.tracking import _artifacts, _runs

    kiln = context(ctx)
    run = kiln.db.read(_runs.get_run, kiln.settings.project, run_id)
    if as_json:
        print_json(_run_json(run))
        return
    console.print(
        f"[bold]{run.name}[/] ({run.id}) {run.status.value}, experiment {run.experiment_id}, "
        f"started {_when(run.start_time)}, ended {_when(run.end_time)}",
        highlight=False,
    )
    for title, items in (
        ("params", sorted(run.params.items())),
        (
            "metrics",
            sorted((k, _number(m.value) + f" (step {m.step})") for k, m in run.metrics.items()),
        ),
        ("tags", sorted(run.tags.items())),
    ):
        if items:
            table = Table(title=title, header_style="bold")
            table.add_column("key")
            table.add_column("value")
            for key, value in items:
                table.add_row(key, value)
            console.print(table)
    for dataset in run.inputs:
        console.print(f"input {dataset.name} ({dataset.context or '-'}) digest {dataset.digest}")
    artifacts = kiln.db.read(_artifacts.list_artifacts, kiln.settings.project, run_id)
    for artifact in artifacts:
        console.print(f"artifact {artifact.path} ({artifact.size:,} bytes)", highlight=False)
    if run.failure:
        console.print("[red]failure:[/]\n" + run.failure, highlight=False)


@app.command("compare")
def compare(
    ctx: typer.Context,
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Params and latest metrics of several runs side by side; differences in bold."""
    from rich.table import Table

    from kiln.tracking import _runs

    kiln = context(ctx)
    runs = [kiln.db.read(_runs.get_run, kiln.settings.project, r) for r in run_ids]
    if as_json:
        print_json([_run_json(r) for r in runs])
        return
    table = Table(header_style="bold")
    table.add_column("")
    for run in runs:
        table.add_column(f"{run.name}\n{run.id[:8]}")
    for label, rows in (
        ("param", sorted({k for r in runs for k in r.params})),
        ("metric", sorted({k for r in runs for k in r.metrics})),
    ):
        for key in rows:
            if label == "param":
                values = [r.params.get(key, "-") for r in runs]
            else:
                values = [_number(r.metrics[key].value) if key in r.metrics else "-" for r in runs]
            differs = len(set(values)) > 1
            table.add_row(f"{label} {key}", *(f"[bold]{v}[/]" if differs else v for v in values))
    console.print(table)


@app.command("delete")
def delete(
    ctx: typer.Context,
    run_id: str,
    permanent: bool = typer.Option(False, "--permanent", help="Remove its records for good."),
    yes: bool = typer.Option(False, "--yes", "-y"),
) -> None:
    """Delete (hide) a run, or remove it permanently."""
    from kiln.tracking import _runs
    from kiln.tracking._entities import LifecycleStage

    kiln = context(ctx)
    if permanent:
        if not yes:
            typer.confirm(f"Permanently delete run {run_id} and everything it logged?", abort=True)
        kiln.db.run(_runs.purge_run, kiln.settings.project, run_id)
        console.print(f"run {run_id} permanently deleted")
        return
    kiln.db.run(_runs.set_run_lifecycle, kiln.settings.project, run_id, LifecycleStage.DELETED)
    console.print(f"run {run_id} deleted (restore it with `kiln runs restore {run_id}`)")


@app.command("restore")
def restore(ctx: typer.Context, run_id: str) -> None:
    """Restore a deleted run."""
    from kiln.tracking import _runs
    from kiln.tracking._entities import LifecycleStage

    kiln = context(ctx)
    kiln.db.run(_runs.set_run_lifecycle, kiln.settings.project, run_id, LifecycleStage.ACTIVE)
    console.print(f"run {run_id} restored")
