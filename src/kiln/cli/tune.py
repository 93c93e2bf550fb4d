"""``kiln tune``: hyperparameter studies made by ``kiln.tune``: list, show, report, delete.

Searches run from Python (``kiln.tune(objective, space=..., study=...)``);
these commands read what they stored. ``show`` prints the directions, the
trials per state, the best trial (or the Pareto front), the importances
and the trials; ``report`` writes the study's self-contained HTML report
(Optuna's plots) from its run to a file.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from kiln.cli._app import context
from kiln.cli._output import console, print_json

if TYPE_CHECKING:
    from kiln.training._studies import StudySummary, TrialSummary
    from kiln.training._study_details import StudyDetails

NAME = "tune"
HELP = "Hyperparameter studies made by kiln.tune: list, show, report, delete."
app = typer.Typer(no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON instead of text.")
#: Trials ``show`` lists without ``--trials`` (the newest); JSON lists every trial.
SHOWN_TRIALS = 20
#: Settings ``kiln.tune`` stores for an unbounded study (a timeout ends it).
_UNBOUNDED = 2**31 - 1
_BAR = 24


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.6g}"


def _value(value: Any) -> str:
    return _number(value) if isinstance(value, float) else str(value)


def _values(trial: TrialSummary) -> str:
    return ", ".join(_number(v) for v in trial.values) if trial.values else "-"


def _states(summary: StudySummary) -> str:
    counts = sorted(summary.states.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{n} {state.lower()}" for state, n in counts) or "none yet"


def _best(summary: StudySummary) -> str:
    if not summary.best:
        return "-"
    if len(summary.directions) > 1:
        return f"Pareto front of {len(summary.best)}"
    best = summary.best[0]
    return f"{_number(best.value)} (trial {best.number})"


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List the project's studies, newest first."""
    from rich.table import Table

    from kiln.training._studies import list_studies

    kiln = context(ctx)
    found = kiln.db.read(list_studies, kiln.settings.project)
    if as_json:
        print_json([{k: v for k, v in s.to_dict().items() if k != "trials"} for s in found])
        return
    table = Table(header_style="bold")
    for column in ("study", "directions", "trials", "best", "created"):
        table.add_column(column)
    for summary in found:
        table.add_row(
            summary.name,
            ", ".join(summary.directions),
            f"{summary.n_trials}: {_states(summary)}",
            _best(summary),
            summary.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    console.print(table)
    if not found:
        console.print("no study yet: kiln.tune(objective, space=..., study='name') makes one")


def _header(details: StudyDetails) -> None:
    summary = details.summary
    directions = ", ".join(
        f"{direction} {name}"
        for direction, name in zip(summary.directions, details.objectives, strict=True)
    )
    console.print(f"[bold]study {summary.name}[/]: {directions}", highlight=False)
    console.print(f"trials: {summary.n_trials} ({_states(summary)})", highlight=False)
    settings = summary.settings
    budget = settings.get("n_trials")
    shown = {
        "sampler": settings.get("sampler"),
        "pruner": settings.get("pruner"),
        "seed": settings.get("seed"),
        "n_trials": None if budget == _UNBOUNDED else budget,
        "timeout": settings.get("timeout"),
        "parallelism": settings.get("parallelism"),
        "runner": settings.get("runner"),
    }
    console.print(
        "settings: " + ", ".join(f"{k} {v}" for k, v in shown.items() if v is not None),
        highlight=False,
    )
    created = summary.created_at.strftime("%Y-%m-%d %H:%M:%S")
    run = summary.parent_run_id or "-"
    status = f" ({details.run_status})" if details.run_status else ""
    console.print(f"created {created}; study run {run}{status}", highlight=False)


def _print_best(details: StudyDetails) -> None:
    from rich.table import Table

    summary = details.summary
    if not summary.best:
        console.print("best: no trial completed yet")
        return
    if len(summary.directions) == 1:
        best = summary.best[0]
        console.print(
            f"[bold]best trial {best.number}[/]: {details.objectives[0]} {_number(best.value)}"
            f" (run {best.run_id or '-'})",
            highlight=False,
        )
        for name, value in best.params.items():
            console.print(f"  {name} = {_value(value)}", highlight=False)
        return
    params = sorted({name for trial in summary.best for name in trial.params})
    table = Table(title=f"Pareto front ({len(summary.best)} trials)", header_style="bold")
    for column in ("trial", *details.objectives, *params, "run"):
        table.add_column(column)
    for trial in summary.best:
        values = [_number(v) for v in trial.values or []]
        table.add_row(
            str(trial.number),
            *values,
            *(_value(trial.params.get(name, "-")) for name in params),
            trial.run_id or "-",
        )
    console.print(table)


def _print_importances(details: StudyDetails) -> None:
    for name, shares in zip(details.objectives, details.importances, strict=True):
        if not shares:
            continue
        console.print(f"[bold]importances[/] ({name}: share of the variation explained)")
        width = max(len(param) for param in shares)
        for param, share in shares.items():
            filled = round(share * _BAR) if math.isfinite(share) else 0
            bar = "█" * max(0, min(filled, _BAR))
            console.print(f"  {param:<{width}}  {bar:<{_BAR}}  {_number(share)}", highlight=False)


def _print_report(details: StudyDetails) -> None:
    summary = details.summary
    if details.report is None:
        console.print("report: none yet (written on the study's run when a search ends)")
        return
    console.print(
        f"report: {details.report.path} on run {summary.parent_run_id} "
        f"({details.report.size:,} bytes)\n"
        f"  save it with: kiln tune report {shlex.quote(summary.name)} --out report.html",
        highlight=False,
    )


def _print_trials(details: StudyDetails, limit: int) -> None:
    from rich.table import Table

    trials = details.summary.trials
    shown = trials[-limit:] if limit else []
    if not shown:
        return
    params = sorted({name for trial in shown for name in trial.params})
    title = (
        "trials" if len(shown) == len(trials) else f"trials (newest {len(shown)} of {len(trials)})"
    )
    table = Table(title=title, header_style="bold")
    for column in ("trial", "state", ", ".join(details.objectives), "seconds", *params, "run"):
        table.add_column(column)
    for trial in shown:
        seconds = "-" if trial.duration_s is None else f"{trial.duration_s:.2f}"
        table.add_row(
            str(trial.number),
            trial.state.lower(),
            _values(trial),
            seconds,
            *(_value(trial.params.get(name, "-")) for name in params),
            trial.run_id or "-",
        )
    console.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    study: str,
    trials: int | None = typer.Option(
        None,
        "--trials",
        min=0,
        help=f"List the newest N trials (default {SHOWN_TRIALS}; with --json, every trial).",
    ),
    as_json: bool = JSON,
) -> None:
    """Show a study: directions, trials per state, best trial, importances, report, trials."""
    from kiln.training._study_details import describe_study

    kiln = context(ctx)
    details = kiln.db.read(describe_study, kiln.settings.project, study, trials=trials != 0)
    if as_json:
        body = details.to_dict()
        if trials:
            body["trials"] = body["trials"][-trials:]
        print_json(body)
        return
    _header(details)
    _print_best(details)
    _print_importances(details)
    _print_report(details)
    _print_trials(details, SHOWN_TRIALS if trials is None else trials)


@app.command("report")
def report(
    ctx: typer.Context,
    study: str,
    out: Path | None = typer.Option(
        None, "--out", "-o", help="The file to write (default: <study>-report.html here)."
    ),
) -> None:
    """Write the study's self-contained HTML report (Optuna's plots) to a file."""
    from kiln.errors import InvalidInput
    from kiln.training._study_details import study_report

    kiln = context(ctx)
    run_id, artifact = kiln.db.read(study_report, kiln.settings.project, study)
    target = out if out is not None else Path(f"{study}-report.html")
    if target.is_dir():
        target = target / f"{study}-report.html"
    if not target.parent.is_dir():
        raise InvalidInput(f"the folder {target.parent} does not exist", field="out")
    kiln.artifacts.copy_to(artifact.digest, target)
    console.print(f"report of study {study} (run {run_id}): {target}", highlight=False)


@app.command("delete")
def delete(
    ctx: typer.Context,
    study: str,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a study and its trials; the trials' runs and the study's run stay."""
    from kiln.training._studies import delete_study

    kiln = context(ctx)
    if not yes:
        typer.confirm(f"Delete study {study!r} and its trials (their runs stay)?", abort=True)
    kiln.db.run(delete_study, kiln.settings.project, study)
    console.print(f"deleted study {study} (its runs stay)", highlight=False)
