"""``kiln deployments create|list|show|set-traffic|rollback``: the records behind endpoints.

A policy comes from ``--arm NAME=WEIGHT`` (repeated; one arm alone needs no
weight), ``--shadow``, ``--sticky-key`` and ``--salt``, or whole from
``--policy FILE`` (JSON or YAML, as in docs/serving-traffic.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from kiln.cli._app import context
from kiln.cli._output import console, print_json
from kiln.errors import InvalidInput

ARMS = typer.Option(
    None, "--arm", "-a", help="An arm and its percent: fraud@champion=90 (repeat for more)."
)
SHADOWS = typer.Option(None, "--shadow", help="An arm that gets a copy of every request.")
STICKY = typer.Option(None, "--sticky-key", help="The request field that makes routing sticky.")
SALT = typer.Option("", "--salt", help="Mixed into the sticky hash.")
POLICY = typer.Option(None, "--policy", help="The whole policy from a JSON or YAML file.")
NOTE = typer.Option("", "--note", help="Why: kept in the deployment's history.")
JSON = typer.Option(False, "--json", help="Print JSON instead of text.")


def _policy(
    arms: list[str] | None,
    shadows: list[str] | None,
    sticky_key: str | None,
    salt: str,
    policy_file: Path | None,
) -> dict[str, Any]:
    if policy_file is not None:
        if arms:
            raise InvalidInput("give --policy or --arm, not both", field="--policy")
        import yaml

        try:
            loaded = yaml.safe_load(policy_file.read_text())
        except (OSError, yaml.YAMLError) as error:
            raise InvalidInput(f"cannot read {policy_file}: {error}", field="--policy") from None
        if not isinstance(loaded, dict):
            raise InvalidInput(f"{policy_file} must hold a policy object", field="--policy")
        return loaded
    if not arms:
        raise InvalidInput("give at least one --arm (or --policy FILE)", field="--arm")
    parsed: list[dict[str, Any]] = []
    for item in arms:
        name, equals, weight = item.rpartition("=") if "=" in item else (item, "", "")
        if not equals:
            parsed.append({"name": item, "weight": 100 if len(arms) == 1 else None})
            continue
        try:
            parsed.append({"name": name, "weight": float(weight)})
        except ValueError:
            raise InvalidInput(
                f"--arm {item!r}: the weight must be a number", field="--arm"
            ) from None
    return {
        "arms": parsed,
        "shadows": list(shadows or []),
        "sticky_key": sticky_key,
        "salt": salt,
    }


def _show(found: Any, as_json: bool) -> None:
    if as_json:
        print_json(found.to_dict())
        return
    policy = found.policy
    arms = ", ".join(
        f"{arm.name} {arm.weight:g}%" if arm.weight is not None else arm.name for arm in policy.arms
    )
    shadows = f"; shadows {', '.join(policy.shadows)}" if policy.shadows else ""
    console.print(
        f"[bold]{found.name}[/] revision {found.revision} ({policy.mode}): {arms}{shadows}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    @app.command("create")
    def create(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The deployment's name (the endpoint)."),
        arm: list[str] | None = ARMS,
        shadow: list[str] | None = SHADOWS,
        sticky_key: str | None = STICKY,
        salt: str = SALT,
        policy: Path | None = POLICY,
        description: str = typer.Option("", "--description"),
        as_json: bool = JSON,
    ) -> None:
        """Create a deployment: e.g. --arm fraud@champion=90 --arm fraud/7=10 --shadow fraud/8."""
        from kiln.serving._deployments import create_deployment

        kiln = context(ctx)
        found = kiln.db.run(
            create_deployment,
            kiln.settings.project,
            name,
            _policy(arm, shadow, sticky_key, salt, policy),
            description=description,
        )
        _show(found, as_json)

    @app.command("set-traffic")
    def set_traffic(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The deployment."),
        arm: list[str] | None = ARMS,
        shadow: list[str] | None = SHADOWS,
        sticky_key: str | None = STICKY,
        salt: str = SALT,
        policy: Path | None = POLICY,
        note: str = NOTE,
        as_json: bool = JSON,
    ) -> None:
        """Give a deployment a new traffic policy; servers reload it without failing a request."""
        from kiln.serving._deployments import set_traffic as set_policy

        kiln = context(ctx)
        found = kiln.db.run(
            set_policy,
            kiln.settings.project,
            name,
            _policy(arm, shadow, sticky_key, salt, policy),
            note=note,
        )
        _show(found, as_json)

    @app.command("rollback")
    def rollback(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The deployment."),
        to: int | None = typer.Option(None, "--to", help="The revision to bring back."),
        note: str = NOTE,
        as_json: bool = JSON,
    ) -> None:
        """Bring back the previous policy (or revision --to) as a new revision."""
        from kiln.serving._deployments import rollback_deployment

        kiln = context(ctx)
        found = kiln.db.run(
            rollback_deployment, kiln.settings.project, name, to_revision=to, note=note
        )
        _show(found, as_json)

    @app.command("list")
    def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
        """The project's deployments with their current traffic."""
        from kiln.serving._deployments import list_deployments

        kiln = context(ctx)
        found = kiln.db.read(list_deployments, kiln.settings.project)
        if as_json:
            print_json([item.to_dict() for item in found])
            return
        if not found:
            console.print("No deployments yet: `kiln deployments create NAME --arm MODEL@ALIAS`.")
        for item in found:
            _show(item, False)

    @app.command("show")
    def show(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The deployment."),
        as_json: bool = JSON,
    ) -> None:
        """A deployment's traffic and every revision of it, newest first."""
        from kiln.serving._deployments import deployment_history, get_deployment

        kiln = context(ctx)
        found = kiln.db.read(get_deployment, kiln.settings.project, name)
        history = kiln.db.read(deployment_history, kiln.settings.project, name)
        if as_json:
            print_json({**found.to_dict(), "history": history})
            return
        _show(found, False)
        for event in history:
            note = f" — {event.note}" if event.note else ""
            console.print(
                f"  r{event.revision} {event.action} {event.created_at:%Y-%m-%d %H:%M:%S} "
                f"{event.created_by or '-'}{note}",
                highlight=False,
            )
