"""``kiln monitor rules``: alert rules on a monitor's metrics, and checking them now."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from kiln.cli._app import context
from kiln.cli._output import console, parse_time, print_json
from kiln.errors import InvalidInput

app = typer.Typer(
    no_args_is_help=True, help="Alert rules: add, list, enable, disable, delete, check."
)

JSON = typer.Option(False, "--json", help="Print JSON instead of text.")


def _sinks(webhooks: list[str], sinks_file: Path | None) -> list[dict[str, Any]]:
    """The log, each ``--webhook``, and the ``--sinks`` specs (docs/monitoring-alerts.md)."""
    sinks: list[dict[str, Any]] = [{"kind": "log"}]
    sinks += [{"kind": "webhook", "url": url} for url in webhooks]
    if sinks_file is not None:
        try:
            loaded = json.loads(sinks_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InvalidInput(f"cannot read {sinks_file}: {error}", field="sinks") from None
        if not isinstance(loaded, list):
            raise InvalidInput(f"{sinks_file} must hold a JSON list of sinks", field="sinks")
        sinks += loaded
    return sinks


def _params(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        loaded = json.loads(text)
    except ValueError as error:
        raise InvalidInput(f"--params is not JSON: {error}", field="pipeline_params") from None
    if not isinstance(loaded, dict):
        raise InvalidInput("--params must be a JSON object", field="pipeline_params")
    return loaded


@app.command("add")
def add(
    ctx: typer.Context,
    monitor: str,
    name: str,
    condition: str = typer.Option(..., "--when", help="e.g. 'drift.share > 0.3'."),
    severity: str = typer.Option("warning", "--severity", help="warning or critical."),
    webhook: list[str] = typer.Option([], "--webhook", help="POST the alert to this URL."),
    sinks_file: Path | None = typer.Option(
        None, "--sinks", help="JSON file: a list of sink specs."
    ),
    pipeline: str | None = typer.Option(None, "--pipeline", help="module:function to run."),
    params: str | None = typer.Option(None, "--params", help="The pipeline's params, JSON."),
    replace: bool = typer.Option(False, "--replace", help="Change a rule of that name."),
    as_json: bool = JSON,
) -> None:
    """Add a rule to MONITOR: when CONDITION holds for a window, alert (and run a pipeline)."""
    from kiln.monitoring._rules import create_rule, parse_condition

    metric, operator, threshold = parse_condition(condition)
    kiln = context(ctx)
    rule = kiln.db.run(
        create_rule,
        kiln.settings.project,
        monitor,
        name,
        metric=metric,
        operator=operator,
        threshold=threshold,
        severity=severity,
        sinks=_sinks(webhook, sinks_file),
        pipeline=pipeline,
        pipeline_params=_params(params),
        replace=replace,
    )
    if as_json:
        print_json(rule.to_dict())
        return
    then = f", then run {rule.pipeline}" if rule.pipeline else ""
    console.print(
        f"rule [bold]{rule.name}[/] of {monitor}: alert ({rule.severity}) when "
        f"{rule.condition}{then}",
        highlight=False,
    )


@app.command("list")
def list_(ctx: typer.Context, monitor: str, as_json: bool = JSON) -> None:
    """List MONITOR's rules."""
    from rich.table import Table

    from kiln.monitoring._rules import list_rules

    kiln = context(ctx)
    rules = kiln.db.read(list_rules, kiln.settings.project, monitor)
    if as_json:
        print_json([rule.to_dict() for rule in rules])
        return
    table = Table(header_style="bold")
    for column in ("name", "condition", "severity", "sinks", "pipeline", "enabled", "last fired"):
        table.add_column(column)
    for rule in rules:
        table.add_row(
            rule.name,
            rule.condition,
            rule.severity,
            ", ".join(str(spec.get("kind")) for spec in rule.sinks) or "—",
            rule.pipeline or "—",
            "yes" if rule.enabled else "no",
            rule.last_fired_window.isoformat() if rule.last_fired_window else "—",
        )
    console.print(table)


def _enable(ctx: typer.Context, monitor: str, name: str, enabled: bool) -> None:
    from kiln.monitoring._rules import set_rule_enabled

    kiln = context(ctx)
    rule = kiln.db.run(set_rule_enabled, kiln.settings.project, monitor, name, enabled)
    console.print(f"rule {rule.name} {'enabled' if rule.enabled else 'disabled'}", highlight=False)


@app.command("enable")
def enable(ctx: typer.Context, monitor: str, name: str) -> None:
    """Turn a rule on."""
    _enable(ctx, monitor, name, True)


@app.command("disable")
def disable(ctx: typer.Context, monitor: str, name: str) -> None:
    """Turn a rule off (evaluation skips it)."""
    _enable(ctx, monitor, name, False)


@app.command("delete")
def delete(ctx: typer.Context, monitor: str, name: str) -> None:
    """Delete a rule (the alerts it raised stay)."""
    from kiln.monitoring._rules import delete_rule

    kiln = context(ctx)
    kiln.db.run(delete_rule, kiln.settings.project, monitor, name)
    console.print(f"deleted rule {name} of {monitor}", highlight=False)


@app.command("check")
def check(
    ctx: typer.Context,
    monitor: str,
    since: str | None = typer.Option(None, "--since", help="ISO 8601 time."),
    until: str | None = typer.Option(None, "--until", help="ISO 8601 time (default: now)."),
    as_json: bool = JSON,
) -> None:
    """Evaluate MONITOR now, then its rules: raise, deliver and act on the alerts they fire."""
    from kiln.monitoring._evaluate import evaluate_monitor
    from kiln.monitoring._rule_evaluation import evaluate_rules

    kiln = context(ctx)
    project = kiln.settings.project
    with console.status(f"checking {monitor}"):
        results = evaluate_monitor(
            kiln,
            project,
            monitor,
            since=parse_time(since, "since"),
            until=parse_time(until, "until"),
        )
        alerts = evaluate_rules(kiln, project, monitor, results, workdir=str(Path.cwd()))
    if as_json:
        print_json({"windows": len(results), "alerts": [alert.id for alert in alerts]})
        return
    console.print(f"{len(results)} windows evaluated, {len(alerts)} alerts raised", highlight=False)
    for alert in alerts:
        console.print(f"  alert {alert.id} ({alert.severity}): {alert.title}", highlight=False)
