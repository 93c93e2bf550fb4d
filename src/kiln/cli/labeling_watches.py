"""``kiln labeling watch / unwatch / watches``: deployments whose unsure answers become tasks.

Commands of ``kiln labeling`` (added to its app; ``kiln.cli`` imports this
module). A watch is carried out by the deployment's model servers as they
log (``kiln serve --deployment``), within a few seconds of a change; the
tasks it added stay when it is removed.
"""

from __future__ import annotations

import typer

from kiln.cli._app import context
from kiln.cli._output import console, print_json
from kiln.cli.labeling import JSON, app, current_user


@app.command("watch")
def watch(
    ctx: typer.Context,
    name: str,
    deployment: str,
    threshold: float = typer.Option(
        ..., "--threshold", help="Rows answered with less confidence than this become tasks."
    ),
    score_output: str | None = typer.Option(
        None, "--score-output", help="The output holding the confidence (default: predict_proba)."
    ),
    prediction_output: str = typer.Option(
        "predictions", "--prediction-output", help="The output holding the answer."
    ),
    as_json: bool = JSON,
) -> None:
    """Turn the deployment's unsure answers into tasks of the project as they are logged."""
    from kiln.labeling._watches import watch_deployment

    kiln = context(ctx)
    made = kiln.db.run(
        watch_deployment,
        kiln.settings.project,
        name,
        deployment,
        threshold=threshold,
        score_output=score_output,
        prediction_output=prediction_output,
        user=current_user(),
    )
    if as_json:
        print_json(made.to_dict())
        return
    console.print(
        f"{name} watches {deployment}: answers below {made.threshold:g} confidence become tasks",
        highlight=False,
    )


@app.command("unwatch")
def unwatch(ctx: typer.Context, name: str, deployment: str) -> None:
    """Stop turning the deployment's answers into tasks (the tasks it added stay)."""
    from kiln.labeling._watches import unwatch_deployment

    kiln = context(ctx)
    kiln.db.run(unwatch_deployment, kiln.settings.project, name, deployment)
    console.print(f"{name} no longer watches {deployment}", highlight=False)


@app.command("watches")
def watches(ctx: typer.Context, name: str | None = None, as_json: bool = JSON) -> None:
    """The deployments labeling projects watch (one project's with NAME) and what they added."""
    from rich.table import Table

    from kiln.labeling._watches import list_watches

    kiln = context(ctx)
    found = kiln.db.read(list_watches, kiln.settings.project, name)
    if as_json:
        print_json([watch.to_dict() for watch in found])
        return
    if not found:
        console.print("no labeling project watches a deployment", highlight=False)
        return
    table = Table(header_style="bold")
    for column in ("project", "deployment", "threshold", "score from", "added", "last added"):
        table.add_column(column)
    for item in found:
        table.add_row(
            item.name,
            item.deployment,
            f"{item.threshold:g}",
            item.score_output or "predict_proba",
            str(item.added),
            item.last_added_at.isoformat(timespec="seconds") if item.last_added_at else "-",
        )
    console.print(table)
