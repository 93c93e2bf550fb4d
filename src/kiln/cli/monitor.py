"""``kiln monitor``: reference profiles, monitors, evaluating them, and their reports."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import typer

from kiln.cli import monitor_rules
from kiln.cli._app import context
from kiln.cli._output import console, parse_time, print_json, print_records
from kiln.errors import InvalidInput

NAME = "monitor"
HELP = "Monitoring: reference profiles, monitors, evaluation, reports, alert rules."
app = typer.Typer(no_args_is_help=True)
app.add_typer(monitor_rules.app, name="rules")

JSON = typer.Option(False, "--json", help="Print JSON instead of text.")
SINCE = typer.Option(None, "--since", help="ISO 8601 time (UTC when no zone is given).")
UNTIL = typer.Option(None, "--until", help="ISO 8601 time (default: now).")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _names(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def _data(source: str) -> Any:
    """A dataset reference as given, or a Parquet/CSV file's path."""
    path = Path(source)
    if path.suffix.lower() in (".parquet", ".csv") or path.is_dir():
        if not path.exists():
            raise InvalidInput(f"{source} does not exist", field="source")
        return path
    return source


@app.command("profile")
def profile(
    ctx: typer.Context,
    name: str,
    source: str = typer.Option(
        ...,
        "--from",
        help="dataset@version, run:<id>, models:/name/version, or a Parquet/CSV file.",
    ),
    columns: str | None = typer.Option(None, "--columns", help="Comma-separated columns."),
    as_json: bool = JSON,
) -> None:
    """Profile a reference once and store it as the next version of NAME."""
    from kiln.data._sources import prepare
    from kiln.monitoring._profiles import create_profile

    kiln = context(ctx)
    found = _data(source)
    data = prepare(found).table if isinstance(found, Path) else found
    stored, sketches = create_profile(
        kiln, kiln.settings.project, name, data, columns=_names(columns), user=_user()
    )
    if as_json:
        print_json(stored)
        return
    console.print(
        f"profile [bold]{stored.ref}[/]: {stored.rows:,} rows, {len(stored.columns)} columns",
        highlight=False,
    )
    for column, why in sketches.skipped.items():
        console.print(f"  skipped {column}: {why}", highlight=False)


@app.command("profiles")
def profiles(
    ctx: typer.Context, name: str | None = typer.Argument(None), as_json: bool = JSON
) -> None:
    """List stored reference profiles, newest first."""
    from kiln.monitoring._profiles import list_profiles

    kiln = context(ctx)
    found = kiln.db.read(list_profiles, kiln.settings.project, name=name)
    print_records(found, ["name", "version", "rows", "created_at", "created_by"], as_json=as_json)


def _spec_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise InvalidInput(f"cannot read the spec {path}: {error}", field="spec") from None
    if not isinstance(loaded, dict):
        raise InvalidInput(f"the spec {path} must be a mapping of settings", field="spec")
    return loaded


@app.command("create")
def create(
    ctx: typer.Context,
    name: str,
    deployment: str | None = typer.Option(
        None, "--deployment", help="Watch this deployment's log."
    ),
    dataset: str | None = typer.Option(None, "--dataset", help="Watch this dataset's versions."),
    reference: str | None = typer.Option(
        None, "--profile", help="Reference profile, name@version."
    ),
    window: str | None = typer.Option(None, "--window", help="Window length: 15min, 1h, 1d."),
    task: str | None = typer.Option(None, "--task", help="classification or regression."),
    prediction: str | None = typer.Option(None, "--prediction", help="The prediction output."),
    score: str | None = typer.Option(None, "--score", help="The probability output."),
    sensitive: str | None = typer.Option(None, "--sensitive", help="Sensitive attributes, a,b."),
    features: str | None = typer.Option(None, "--features", help="Feature columns, a,b."),
    spec_file: Path | None = typer.Option(
        None, "--spec", help="YAML file of MonitorSpec settings."
    ),
    replace: bool = typer.Option(False, "--replace", help="Replace a monitor of that name."),
    as_json: bool = JSON,
) -> None:
    """Create a monitor of a deployment or a dataset."""
    from kiln.monitoring._monitors import create_monitor

    if (deployment is None) == (dataset is None):
        raise InvalidInput("give one of --deployment or --dataset", field="deployment")
    spec = _spec_file(spec_file)
    given = {
        "profile": reference,
        "window": window,
        "task": task,
        "prediction": prediction,
        "score": score,
        "sensitive": _names(sensitive),
        "features": _names(features),
    }
    spec |= {key: value for key, value in given.items() if value is not None}
    kiln = context(ctx)
    kind, target = ("deployment", deployment) if deployment is not None else ("dataset", dataset)
    assert target is not None
    made = kiln.db.run(
        create_monitor,
        kiln.settings.project,
        name,
        target_kind=kind,
        target=target,
        spec=spec,
        user=_user(),
        replace=replace,
    )
    if as_json:
        print_json(made.to_dict())
        return
    console.print(
        f"monitor [bold]{made.name}[/] watches {made.target_kind} {made.target} "
        f"against {made.spec.profile}",
        highlight=False,
    )


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List monitors."""
    from kiln.monitoring._monitors import list_monitors

    kiln = context(ctx)
    found = kiln.db.read(list_monitors, kiln.settings.project)
    if as_json:
        print_json([monitor.to_dict() for monitor in found])
        return
    print_records(found, ["name", "target_kind", "target", "updated_at"], as_json=False)


@app.command("show")
def show(ctx: typer.Context, name: str, as_json: bool = JSON) -> None:
    """Show a monitor's spec and its latest windows."""
    from kiln.monitoring._monitors import get_monitor
    from kiln.monitoring._results import list_results

    kiln = context(ctx)
    monitor = kiln.db.read(get_monitor, kiln.settings.project, name)
    results = kiln.db.read(list_results, kiln.settings.project, name, limit=10)
    if as_json:
        print_json(monitor.to_dict() | {"results": [r.to_dict() for r in results]})
        return
    console.print(
        f"[bold]{monitor.name}[/]: {monitor.target_kind} {monitor.target}", highlight=False
    )
    for key, value in monitor.spec.to_dict().items():
        console.print(f"  {key}: {value}", highlight=False)
    _print_results(results)


def _print_results(results: list[Any]) -> None:
    from rich.table import Table

    table = Table(header_style="bold")
    for column in ("window start", "rows", "drift share", "drifted", "quality", "f1"):
        table.add_column(column)
    for result in results:
        metrics = result.metrics
        table.add_row(
            result.start.isoformat(timespec="minutes"),
            f"{result.rows:,}",
            f"{metrics.get('drift.share', 0):.2f}",
            ", ".join(
                key.split(".")[1]
                for key, value in metrics.items()
                if key.startswith("drift.") and key.endswith(".drift") and value == 1
            )
            or "—",
            f"{int(metrics.get('quality.findings', 0))} findings",
            f"{metrics['performance.f1']:.3f}" if "performance.f1" in metrics else "—",
        )
    console.print(table)


@app.command("run")
def run(
    ctx: typer.Context,
    name: str,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    version: int | None = typer.Option(None, "--version", help="A dataset monitor's version."),
    as_json: bool = JSON,
) -> None:
    """Evaluate a monitor now and store its windows."""
    from kiln.monitoring._evaluate import evaluate_monitor

    kiln = context(ctx)
    with console.status(f"evaluating {name}"):
        results = evaluate_monitor(
            kiln,
            kiln.settings.project,
            name,
            since=parse_time(since, "since"),
            until=parse_time(until, "until"),
            version=version,
        )
    if as_json:
        print_json([result.to_dict() for result in results])
        return
    if not results:
        console.print("no data in that range: nothing evaluated")
        return
    _print_results(results)


@app.command("report")
def report(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="A monitor (its stored windows)."),
    reference: str | None = typer.Option(None, "--reference", help="dataset@version or a file."),
    current: str | None = typer.Option(None, "--current", help="dataset@version or a file."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for the report files."),
    since: str | None = SINCE,
    until: str | None = UNTIL,
) -> None:
    """Write a self-contained HTML report and its JSON: a monitor's, or reference vs current."""
    from kiln.monitoring._report import compare_report, monitor_report, write_report

    kiln = context(ctx)
    if name is not None:
        if reference or current:
            raise InvalidInput("give a monitor or --reference/--current, not both", field="name")
        document = monitor_report(
            kiln,
            kiln.settings.project,
            name,
            since=parse_time(since, "since"),
            until=parse_time(until, "until"),
        )
        stem = name
    elif reference and current:
        from kiln.data._service import table_of

        tables = [
            table_of(kiln.db, kiln.artifacts, kiln.settings.project, _data(source))
            for source in (reference, current)
        ]
        document = compare_report(*tables, title=f"{current} against {reference}")
        document["subject"]["reference"]["name"] = reference
        stem = "drift-report"
    else:
        raise InvalidInput("give a monitor name, or both --reference and --current", field="name")
    files = write_report(document, out, stem=stem)
    console.print(f"report: {files.html}\njson:   {files.json}", highlight=False)


@app.command("delete")
def delete(ctx: typer.Context, name: str) -> None:
    """Delete a monitor with its stored windows and rules (its alerts stay)."""
    from kiln.monitoring._monitors import delete_monitor

    kiln = context(ctx)
    kiln.db.run(delete_monitor, kiln.settings.project, name)
    console.print(f"deleted monitor {name}", highlight=False)
