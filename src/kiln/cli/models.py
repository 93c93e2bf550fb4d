"""``kiln models``: registered models, versions, aliases, their history and gates.

Commands go through the registry SDK of the command's settings, so they work
on the local store and, with ``KILN_SERVER_URL`` set, against a server (which
then checks the caller's role: ``--force`` and gates need project admins).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer

from kiln.cli._app import context
from kiln.cli._output import console, print_json

if TYPE_CHECKING:
    from kiln.registry import AliasEvent, CheckResult

NAME = "models"
HELP = "Model registry: list, show, versions, register, aliases (set, rollback, history), gates."
app = typer.Typer(no_args_is_help=True)
alias_app = typer.Typer(no_args_is_help=True, help="Move, remove and roll back aliases.")
gate_app = typer.Typer(no_args_is_help=True, help="The checks an alias requires.")
app.add_typer(alias_app, name="alias")
app.add_typer(gate_app, name="gate")


def _sdk(ctx: typer.Context) -> Any:
    """The registry SDK, bound to this command's settings (store or server)."""
    from kiln import registry
    from kiln.context import configure

    configure(context(ctx).settings)
    return registry


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _version(value: int | None) -> str:
    return "-" if value is None else str(value)


def _results_text(results: tuple[CheckResult, ...] | list[CheckResult]) -> str:
    return "\n".join(
        f"{'pass' if r.passed else 'FAIL'} {r.name}" + (f": {r.detail}" if r.detail else "")
        for r in results
    )


def _print_event(event: AliasEvent) -> None:
    verb = {"set": "moved", "delete": "removed", "rollback": "rolled back"}[event.action.value]
    console.print(
        f"alias [bold]{event.alias}[/] of {event.name} {verb}: "
        f"{_version(event.from_version)} → {_version(event.to_version)}"
        + (" [yellow](forced past failed checks)[/]" if event.forced else ""),
        highlight=False,
    )
    if event.results:
        console.print(_results_text(event.results), highlight=False, markup=False)


@app.command("list")
def list_(
    ctx: typer.Context,
    filter_string: str = typer.Option("", "--filter", "-f", help="e.g. \"name ILIKE 'fr%'\""),
    max_results: int = typer.Option(100, "--max", "-n", min=1, max=50_000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Registered models of the project."""
    from rich.table import Table

    from kiln.registry._wire import model_to_json

    models = _sdk(ctx).search_registered_models(filter_string, max_results=max_results)
    if as_json:
        print_json([model_to_json(m) for m in models])
        return
    table = Table(header_style="bold")
    for column in ("name", "latest version", "aliases", "updated", "description"):
        table.add_column(column)
    for model in models:
        aliases = ", ".join(f"{a}→{v}" for a, v in sorted(model.aliases.items()))
        table.add_row(
            model.name,
            _version(model.latest_version),
            aliases or "-",
            _when(model.updated_at),
            model.description or "",
        )
    console.print(table)


@app.command("show")
def show(ctx: typer.Context, name: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """A registered model: description, tags, aliases, latest version."""
    from kiln.registry._wire import model_to_json

    model = _sdk(ctx).get_registered_model(name)
    if as_json:
        print_json(model_to_json(model))
        return
    console.print(
        f"[bold]{model.name}[/] (project {model.project}), latest version "
        f"{_version(model.latest_version)}, updated {_when(model.updated_at)}",
        highlight=False,
    )
    if model.description:
        console.print(model.description, highlight=False, markup=False)
    for alias, version in sorted(model.aliases.items()):
        console.print(f"alias {alias} → version {version}", highlight=False)
    for key, value in sorted(model.tags.items()):
        console.print(f"tag {key} = {value}", highlight=False, markup=False)


@app.command("versions")
def versions(
    ctx: typer.Context,
    name: str,
    max_results: int = typer.Option(100, "--max", "-n", min=1, max=50_000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Versions of a registered model, newest first."""
    from rich.table import Table

    from kiln.registry._wire import version_to_json

    registry = _sdk(ctx)
    quoted = name.replace("'", "''")
    found = registry.search_model_versions(
        f"name = '{quoted}'", order_by=["version DESC"], max_results=max_results
    )
    if not found:
        registry.get_registered_model(name)  # NotFound for an unknown model
    if as_json:
        print_json([version_to_json(v) for v in found])
        return
    table = Table(header_style="bold")
    for column in ("version", "aliases", "flavor", "source", "created", "by"):
        table.add_column(column)
    for version in found:
        table.add_row(
            str(version.version),
            ", ".join(version.aliases) or "-",
            version.flavor or "-",
            version.source,
            _when(version.created_at),
            version.created_by or "-",
        )
    console.print(table)


@app.command("register")
def register(
    ctx: typer.Context,
    model_uri: str = typer.Argument(..., help="runs:/<run_id>/<path> or a model folder."),
    name: str = typer.Argument(..., help="Registered model name (created if missing)."),
    description: str = typer.Option("", "--description", "-d"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Register a logged model (or a model folder) as the next version of NAME."""
    from kiln.registry._wire import version_to_json

    version = _sdk(ctx).register_model(model_uri, name, description=description)
    if as_json:
        print_json(version_to_json(version))
        return
    console.print(f"registered {version.name} version {version.version}", highlight=False)


@alias_app.command("set")
def alias_set(
    ctx: typer.Context,
    name: str,
    alias: str,
    version: str,
    force: bool = typer.Option(
        False, "--force", help="Move even when gate checks fail (project admins)."
    ),
    note: str = typer.Option("", "--note", help="Why; stored with the event."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Point ALIAS of NAME at VERSION, once the alias's gate passes."""
    from kiln.registry._wire import event_to_json

    event = _sdk(ctx).set_alias(name, alias, version, force=force, note=note)
    if as_json:
        print_json(event_to_json(event))
        return
    _print_event(event)


@alias_app.command("delete")
def alias_delete(
    ctx: typer.Context,
    name: str,
    alias: str,
    note: str = typer.Option("", "--note"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Remove ALIAS of NAME."""
    from kiln.registry._wire import event_to_json

    event = _sdk(ctx).delete_alias(name, alias, note=note)
    if as_json:
        print_json(event_to_json(event))
        return
    _print_event(event)


@alias_app.command("rollback")
def alias_rollback(
    ctx: typer.Context,
    name: str,
    alias: str,
    note: str = typer.Option("", "--note"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Move ALIAS back to the version it held before its last move."""
    from kiln.registry._wire import event_to_json

    event = _sdk(ctx).rollback_alias(name, alias, note=note)
    if as_json:
        print_json(event_to_json(event))
        return
    _print_event(event)


@alias_app.command("history")
def alias_history(
    ctx: typer.Context, name: str, alias: str, as_json: bool = typer.Option(False, "--json")
) -> None:
    """Every move of ALIAS, newest first: who, when, from, to, gate results."""
    from rich.table import Table

    from kiln.registry._wire import event_to_json

    events = _sdk(ctx).alias_history(name, alias)
    if as_json:
        print_json([event_to_json(e) for e in events])
        return
    table = Table(header_style="bold", show_lines=True)
    for column in ("event", "when", "action", "from", "to", "by", "checks", "note"):
        table.add_column(column)
    for event in events:
        table.add_row(
            str(event.id),
            _when(event.at),
            event.action.value + (" (forced)" if event.forced else ""),
            _version(event.from_version),
            _version(event.to_version),
            event.actor or "-",
            _results_text(event.results) or "-",
            event.note,
        )
    console.print(table)


@gate_app.command("set")
def gate_set(
    ctx: typer.Context,
    name: str,
    alias: str,
    checks: list[str] = typer.Option(
        [],
        "--check",
        "-c",
        help='A check as JSON, repeatable: \'{"type": "metric_threshold", "metric": "auc", '
        '"op": ">=", "value": 0.8}\'. None removes the gate.',
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Require checks before ALIAS of NAME moves (replaces the alias's gate)."""
    from kiln.errors import InvalidInput
    from kiln.registry._wire import gate_to_json

    parsed = []
    for index, text in enumerate(checks):
        try:
            parsed.append(json.loads(text))
        except ValueError as exc:
            raise InvalidInput(
                f"--check {index + 1} is not JSON ({exc}): {text!r}", field=f"checks[{index}]"
            ) from None
    gate = _sdk(ctx).set_gate(name, alias, parsed)
    if as_json:
        print_json(gate_to_json(gate))
        return
    console.print(
        f"alias {gate.alias} of {gate.name} requires {len(gate.checks)} check(s)"
        + "".join(f"\n  {c.name} ({c.type})" for c in gate.checks),
        highlight=False,
        markup=False,
    )


@gate_app.command("show")
def gate_show(
    ctx: typer.Context, name: str, alias: str, as_json: bool = typer.Option(False, "--json")
) -> None:
    """The checks ALIAS of NAME requires."""
    from kiln.registry._checks import check_to_json
    from kiln.registry._wire import gate_to_json

    gate = _sdk(ctx).get_gate(name, alias)
    if as_json:
        print_json(gate_to_json(gate))
        return
    if not gate.checks:
        console.print(f"alias {alias} of {name} has no gate", highlight=False)
    for check in gate.checks:
        typer.echo(json.dumps(check_to_json(check)))


@gate_app.command("check")
def gate_check(
    ctx: typer.Context,
    name: str,
    alias: str,
    version: str,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Evaluate ALIAS's gate for VERSION without moving anything (exit 5 when a check fails)."""
    from kiln.registry._checks import result_to_json

    results = _sdk(ctx).check_gate(name, alias, version)
    if as_json:
        print_json([result_to_json(r) for r in results])
    else:
        console.print(_results_text(results) or "no checks", highlight=False, markup=False)
    if not all(r.passed for r in results):
        raise typer.Exit(5)
