"""``kiln pipelines``: run a pipeline, list and inspect its runs, read step logs."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import nullcontext, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from kiln.cli import schedules
from kiln.cli._app import context
from kiln.cli._output import console, print_json, print_records

if TYPE_CHECKING:
    from kiln.artifacts import ArtifactStore
    from kiln.pipelines import Pipeline, PipelineRun, StepRun

NAME = "pipelines"
HELP = "Pipelines: run, runs, show, logs, resume, schedules."
app = typer.Typer(no_args_is_help=True)
app.add_typer(schedules.app, name=schedules.NAME, help=schedules.HELP)

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


def _load_pipeline(target: str) -> Pipeline:
    """The ``Pipeline`` that ``module:attribute`` names, importable from the current folder."""
    import importlib

    from kiln.errors import InvalidInput
    from kiln.pipelines import Pipeline

    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise InvalidInput(f"expected module:function, got {target!r}", field="target")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, SyntaxError) as exc:
        raise InvalidInput(f"cannot import {target}: {exc}", field="target") from None
    if not isinstance(obj, Pipeline):
        raise InvalidInput(
            f"{target} is a {type(obj).__name__}, not a kiln Pipeline: decorate it with "
            "@kiln.pipelines.pipeline",
            field="target",
        )
    return obj


def _params(pairs: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs; each value is read as YAML (``3`` a number, ``[a, b]`` a list)."""
    import yaml

    from kiln.errors import InvalidInput

    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--param takes key=value, got {pair!r}", field="param")
        try:
            params[key.strip()] = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            params[key.strip()] = text
    return params


def _json_params(text: str | None) -> dict[str, Any]:
    """The JSON object of ``--params-json`` (how the scheduler hands a schedule's params on)."""
    import json

    from kiln.errors import InvalidInput

    if text is None:
        return {}
    try:
        params = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"--params-json is not valid JSON: {exc}", field="params") from None
    if not isinstance(params, dict):
        raise InvalidInput(
            f"--params-json must be a JSON object of parameters, got {text!r}", field="params"
        )
    return params


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _memory(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / (1024 * 1024):.1f} MiB"


def _first_line(text: str | None) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else "-"


def _steps_table(run: PipelineRun, *, detailed: bool) -> None:
    from rich.table import Table

    table = Table(header_style="bold")
    columns = ["step", "status", "cached", "duration"]
    if detailed:
        columns += ["cpu", "peak memory", "attempts", "error"]
    for column in columns:
        table.add_column(column)
    for step in run.steps:
        row = [step.invocation, step.status.value, "yes" if step.cached else "no"]
        row.append(_seconds(step.duration_seconds))
        if detailed:
            row += [
                _seconds(step.cpu_seconds),
                _memory(step.peak_memory_bytes),
                str(step.attempts),
                _first_line(step.error),
            ]
        table.add_row(*row)
    console.print(table)


def _summary(run: PipelineRun) -> None:
    console.print(
        f"[bold]{run.pipeline}[/] run {run.id}: {run.status.value} on the {run.runner} runner, "
        f"{_seconds(run.duration_seconds)}",
        highlight=False,
    )


@app.command("run")
def run(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="module:function, importable from this folder."),
    config: Path | None = typer.Option(None, "--config", help="YAML file of parameters."),
    runner: str = typer.Option("sequential", "--runner", help="sequential, parallel, …"),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step, ignoring the cache."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="key=value (value read as YAML); repeatable; beats --config."
    ),
    as_json: bool = JSON,
    run_id: str | None = typer.Option(
        None, "--run-id", hidden=True, help="The run's id (32 hex characters; the scheduler's)."
    ),
    params_json: str | None = typer.Option(
        None, "--params-json", hidden=True, help="A JSON object of parameters, under --param."
    ),
) -> None:
    """Run a pipeline; exit non-zero when the run FAILED."""
    from kiln.pipelines import PipelineFailed, run_pipeline

    kiln = context(ctx)
    pipeline = _load_pipeline(target)
    params = _json_params(params_json) | _params(param)
    # With --json, what the steps print goes to stderr so stdout stays one JSON document.
    steps_output = redirect_stdout(sys.stderr) if as_json else nullcontext()
    try:
        with steps_output:
            record = run_pipeline(
                pipeline,
                params,
                config=config,
                runner=runner,
                no_cache=no_cache,
                context=kiln,
                run_id=run_id,
            )
    except PipelineFailed as failed:
        _report(failed.run, as_json=as_json)
        raise
    _report(record, as_json=as_json)


def _report(record: PipelineRun, *, as_json: bool) -> None:
    if as_json:
        print_json(record)
        return
    _summary(record)
    _steps_table(record, detailed=False)


@app.command("runs")
def runs(
    ctx: typer.Context,
    pipeline: str | None = typer.Option(None, "--pipeline", help="Only this pipeline's runs."),
    limit: int = typer.Option(20, "--limit", "-n", min=1),
    as_json: bool = JSON,
) -> None:
    """List pipeline runs, newest first."""
    from kiln.pipelines import list_pipeline_runs

    kiln = context(ctx)
    found = kiln.db.read(list_pipeline_runs, kiln.settings.project, pipeline=pipeline, limit=limit)
    print_records(
        found,
        ["id", "pipeline", "status", "runner", "start_time", "duration_seconds", "error"],
        as_json=as_json,
    )


@app.command("show")
def show(ctx: typer.Context, run_id: str, as_json: bool = JSON) -> None:
    """Show a run: its params and each step's status, cache, time, CPU, memory and error."""
    from kiln.pipelines import get_pipeline_run

    kiln = context(ctx)
    record = kiln.db.read(get_pipeline_run, kiln.settings.project, run_id)
    if as_json:
        print_json(record)
        return
    _summary(record)
    for key, value in sorted(record.params.items()):
        console.print(f"param {key}: {value!r}", highlight=False)
    if record.error:
        console.print(f"[red]error:[/] {_first_line(record.error)}", highlight=False)
    _steps_table(record, detailed=True)


def _log(artifacts: ArtifactStore, text: str, digest: str | None) -> str:
    """The whole log: the stored blob when the record holds only its tail."""
    if digest is None:
        return text
    return artifacts.read_bytes(digest).decode("utf-8", errors="replace")


@app.command("logs")
def logs(
    ctx: typer.Context,
    run_id: str,
    step: str | None = typer.Option(
        None, "--step", help='One step invocation ("train", "clean[2]").'
    ),
) -> None:
    """Print the captured stdout and stderr of a run's steps."""
    from kiln.pipelines import get_pipeline_run, get_step_run

    kiln = context(ctx)
    project = kiln.settings.project
    steps: Sequence[StepRun]
    if step is None:
        steps = kiln.db.read(get_pipeline_run, project, run_id).steps
    else:
        steps = [kiln.db.read(get_step_run, project, run_id, step)]
    for step_run in steps:
        for stream, text, digest in (
            ("stdout", step_run.stdout, step_run.stdout_digest),
            ("stderr", step_run.stderr, step_run.stderr_digest),
        ):
            content = _log(kiln.artifacts, text, digest)
            if not content:
                continue
            console.print(f"[bold]── {step_run.invocation} {stream}[/]", highlight=False)
            sys.stdout.write(content if content.endswith("\n") else content + "\n")
            sys.stdout.flush()


@app.command("resume")
def resume(
    ctx: typer.Context,
    run_id: str,
    accept: bool = typer.Option(
        False, "--accept", help="Let the data of a paused gate through as it is (alert ACCEPTED)."
    ),
    runner: str = typer.Option("sequential", "--runner", help="sequential, parallel, …"),
    as_json: bool = JSON,
) -> None:
    """Continue a PAUSED or FAILED run: paused gates are checked again (or accepted), failed
    steps run again, completed steps are reused."""
    from kiln.pipelines import PipelineFailed, resume_pipeline

    kiln = context(ctx)
    steps_output = redirect_stdout(sys.stderr) if as_json else nullcontext()
    try:
        with steps_output:
            record = resume_pipeline(run_id, accept=accept, runner=runner, context=kiln)
    except PipelineFailed as failed:
        _report(failed.run, as_json=as_json)
        raise
    _report(record, as_json=as_json)
    if record.status.value == "PAUSED" and not as_json:
        console.print(f"[yellow]still paused:[/] {record.error}", highlight=False)
