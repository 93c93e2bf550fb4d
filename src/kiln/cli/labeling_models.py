"""``kiln labeling preannotate / next-batch / label-errors / intake``: a model's opinion.

Commands of ``kiln labeling`` (added to its app; ``kiln.cli`` imports this
module) over the same services as ``/api/v1/labeling/{name}/…``. Models are
named by registry URI (``models:/name@alias``). ``preannotate`` prints the
predictions the schema refused as a table and still exits 0: refusals are
part of the report, not a failure; ``--json`` has them under ``rejected``.
"""

from __future__ import annotations

import typer

from kiln.cli._app import context
from kiln.cli._output import console, parse_time, print_json
from kiln.cli.labeling import JSON, app
from kiln.errors import InvalidInput

MODEL = typer.Option(..., "--model", help="A registered model: models:/name@alias or …/3.")


@app.command("preannotate")
def preannotate(ctx: typer.Context, name: str, model: str = MODEL, as_json: bool = JSON) -> None:
    """Pre-annotate the open tasks with a model; list the predictions the schema refused."""
    from rich.table import Table

    from kiln.labeling._estimators import registered_model
    from kiln.labeling._model_labels import preannotate as run

    kiln = context(ctx)
    done = run(kiln, kiln.settings.project, name, registered_model(kiln, model))
    if as_json:
        print_json(done)
        return
    console.print(
        f"pre-annotated {done.applied} open tasks of {name} with {done.model}; "
        f"{len(done.rejected)} predictions refused",
        highlight=False,
    )
    if not done.rejected:
        return
    table = Table(header_style="bold")
    for column in ("task", "item", "prediction", "reason"):
        table.add_column(column)
    for refused in done.rejected:
        prediction = "-" if refused.prediction is None else str(refused.prediction)
        table.add_row(str(refused.task_id), refused.item_key, prediction, refused.reason)
    console.print(table)


@app.command("next-batch")
def next_batch(
    ctx: typer.Context,
    name: str,
    model: str = MODEL,
    k: int = typer.Option(20, "-k", help="Tasks to pick."),
    strategy: str = typer.Option(
        "margin", "--strategy", help="margin, entropy, least_confidence or random."
    ),
    diversity: bool = typer.Option(
        False, "--diversity", help="Spread the batch over the tasks' numeric fields."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the random strategy."),
    as_json: bool = JSON,
) -> None:
    """Put the k unanswered tasks the model doubts most first in the queue (active learning)."""
    from rich.table import Table

    from kiln.labeling._estimators import registered_model
    from kiln.labeling._model_labels import next_batch as run

    if seed is not None and seed < 0:
        raise InvalidInput(f"--seed is a whole number of at least 0, got {seed}", field="seed")
    kiln = context(ctx)
    picked = run(
        kiln,
        kiln.settings.project,
        name,
        registered_model(kiln, model),
        k,
        strategy=strategy,
        diversity=diversity,
        seed=seed,
    )
    if as_json:
        print_json({"tasks": [t.to_dict(with_gold=True) for t in picked]})
        return
    table = Table(header_style="bold")
    for column in ("queue", "task", "item", "model's guess", "score"):
        table.add_column(column)
    for rank, task in enumerate(picked, start=1):
        guess = task.prediction or {}
        score = guess.get("score")
        table.add_row(
            str(rank),
            str(task.id),
            task.item_key,
            "-" if guess.get("label") is None else str(guess["label"]),
            "-" if score is None else f"{score:.3f}",
        )
    console.print(table)
    console.print(f"{len(picked)} tasks now first in the queue of {name}", highlight=False)


@app.command("label-errors")
def label_errors(
    ctx: typer.Context,
    name: str,
    model: str | None = typer.Option(
        None,
        "--model",
        help="A registered model whose estimator is refitted (default: logistic regression).",
    ),
    folds: int = typer.Option(5, "--folds", help="Cross-validation folds."),
    as_json: bool = JSON,
) -> None:
    """Send the answered tasks whose label is likely wrong to the review queue."""
    from kiln.labeling._estimators import flag_with

    kiln = context(ctx)
    flagged = flag_with(kiln, kiln.settings.project, name, model, folds=folds)
    if as_json:
        print_json({"flagged": flagged, "model": model, "folds": folds})
        return
    ids = ", ".join(map(str, flagged)) or "none"
    console.print(
        f"flagged {len(flagged)} likely label errors for review (likeliest first): {ids}",
        highlight=False,
    )
    if flagged:
        console.print(f"review them at /labeling/{name}/review on `kiln server`", highlight=False)


@app.command("intake")
def intake(
    ctx: typer.Context,
    name: str,
    deployment: str = typer.Option(..., "--deployment", help="The deployment whose log to read."),
    threshold: float = typer.Option(
        ..., "--threshold", help="Answers less sure than this (0-1] become tasks."
    ),
    since: str | None = typer.Option(None, "--since", help="ISO 8601 (UTC without a zone)."),
    until: str | None = typer.Option(None, "--until", help="ISO 8601, not included."),
    score_output: str | None = typer.Option(
        None,
        "--score-output",
        help="The logged output holding the confidence (default: the model's predict_proba).",
    ),
    prediction_output: str = typer.Option(
        "predictions", "--prediction-output", help="The logged output holding the answer."
    ),
    as_json: bool = JSON,
) -> None:
    """Make tasks of a deployment's answers less sure than --threshold (human in the loop)."""
    from kiln.labeling._hitl import intake_low_confidence

    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    kiln = context(ctx)
    found = intake_low_confidence(
        kiln,
        kiln.settings.project,
        name,
        deployment,
        threshold=threshold,
        since=start,
        until=end,
        score_output=score_output,
        prediction_output=prediction_output,
    )
    if as_json:
        print_json(found)
        return
    console.print(
        f"read {found.requests} requests ({found.rows} rows) of {deployment}: {found.unsure} "
        f"less sure than {threshold:g}, {found.added} new tasks in {name}"
        + (f"; {found.unscored} rows had no score" if found.unscored else ""),
        highlight=False,
    )
