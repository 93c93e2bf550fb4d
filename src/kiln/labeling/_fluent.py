"""The SDK's labeling verbs on the current context: thin over the services."""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.context import get_context
from kiln.labeling._entities import LabelingProject, Task
from kiln.labeling._schema import LabelSchema

if TYPE_CHECKING:
    from datetime import datetime

    from kiln.data import DatasetVersion
    from kiln.labeling._hitl import Intake
    from kiln.labeling._model_labels import Preannotation
    from kiln.labeling._quality import AgreementReport
    from kiln.labeling._tasks import Submitted
    from kiln.labeling._watches import Watch
    from kiln.training import Job

__all__ = [
    "add_tasks",
    "agreement",
    "create_project",
    "delete_project",
    "export",
    "export_in_background",
    "flag_label_errors",
    "get_project",
    "intake_low_confidence",
    "list_projects",
    "list_watches",
    "next_batch",
    "next_task",
    "preannotate",
    "review",
    "review_queue",
    "submit",
    "unwatch_deployment",
    "watch_deployment",
]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def create_project(
    name: str,
    schema: Mapping[str, Any] | LabelSchema,
    *,
    dataset: str | None = None,
    overlap: int = 1,
    description: str = "",
    webhooks: Iterable[str] = (),
    key_column: str | None = None,
    gold_column: str | None = None,
) -> LabelingProject:
    """A labeling project; with ``dataset`` (``"reviews@2"``) its rows become the tasks.

    When the rows cannot be added (a missing column, a gold answer the
    schema refuses) the project is not left behind.
    """
    from kiln.labeling._ui_support import create_with_items

    context = get_context()
    return create_with_items(
        context,
        context.settings.project,
        name,
        schema,
        dataset=dataset,
        overlap=overlap,
        description=description,
        webhooks=webhooks,
        key_column=key_column,
        gold_column=gold_column,
        user=_user(),
    )


def add_tasks(
    name: str,
    data: Any,
    *,
    key_column: str | None = None,
    gold_column: str | None = None,
) -> int:
    """Add rows as tasks: a dataset ref (``"reviews@3"``), a DataFrame or an Arrow table."""
    from kiln.data._sources import prepare
    from kiln.labeling import _intake

    context = get_context()
    project = context.settings.project
    if isinstance(data, str):
        return _intake.add_from_dataset(
            context, project, name, data, key_column=key_column, gold_column=gold_column
        )
    table = prepare(data).table
    return _intake.add_from_table(
        context, project, name, table, key_column=key_column, gold_column=gold_column
    )


def get_project(name: str) -> LabelingProject:
    from kiln.labeling import _projects

    context = get_context()
    return context.db.read(_projects.get_project, context.settings.project, name)


def list_projects() -> list[LabelingProject]:
    from kiln.labeling import _projects

    context = get_context()
    return context.db.read(_projects.list_projects, context.settings.project)


def delete_project(name: str) -> None:
    from kiln.labeling import _projects

    context = get_context()
    context.db.run(_projects.delete_project, context.settings.project, name)


def next_task(name: str, annotator: str | None = None) -> Task | None:
    """The task ``annotator`` (default: you) should label next, or None."""
    from kiln.labeling import _tasks

    context = get_context()
    return context.db.read(_tasks.next_task, context.settings.project, name, annotator or _user())


def submit(
    name: str,
    task_id: int,
    label: Any = None,
    *,
    annotator: str | None = None,
    skip: bool = False,
    comment: str = "",
    seconds: float | None = None,
) -> Submitted:
    """Answer (or skip) a task as ``annotator`` (default: you); completing it tells the webhooks."""
    from kiln.labeling._answers import answer

    context = get_context()
    return answer(
        context,
        context.settings.project,
        name,
        task_id,
        annotator or _user(),
        label,
        skip=skip,
        comment=comment,
        seconds=seconds,
    )


def review_queue(name: str, *, limit: int = 100) -> list[Task]:
    from kiln.labeling import _tasks

    context = get_context()
    return context.db.read(_tasks.review_queue, context.settings.project, name, limit=limit)


def review(
    name: str, task_id: int, label: Any, *, reviewer: str | None = None, note: str = ""
) -> Task:
    """Decide a task's label as its reviewer (default: you)."""
    from kiln.labeling import _tasks

    context = get_context()
    return context.db.run(
        _tasks.review_task,
        context.settings.project,
        name,
        task_id,
        reviewer or _user(),
        label,
        note=note,
    )


def export(
    name: str,
    *,
    dataset: str | None = None,
    path: str | Path | None = None,
    format: str = "jsonl",
) -> DatasetVersion | int:
    """The labelled tasks as the next version of ``dataset``, or to ``path`` (JSONL/CSV).

    Returns the dataset version, or the number of rows written to the file.
    """
    from kiln.errors import InvalidInput
    from kiln.labeling import _export

    if (dataset is None) == (path is None):
        raise InvalidInput("export to a dataset or to a path (one of them)", field="dataset")
    context = get_context()
    project = context.settings.project
    if dataset is not None:
        return _export.export_dataset(context, project, name, dataset, user=_user())
    assert path is not None
    if format not in ("jsonl", "csv"):
        raise InvalidInput(f"format {format!r} is not jsonl or csv", field="format")
    return _export.export_file(context, project, name, path, format=format)  # type: ignore[arg-type]


def export_in_background(name: str, dataset: str, *, description: str = "") -> Job:
    """Export the labelled tasks to ``dataset`` as a tracked job; the job, at once.

    For a large project: follow it with ``kiln.training.wait_job(job.id)`` or
    ``kiln jobs logs ID --follow``. A project with nothing labelled, or a bad
    dataset name, is refused here rather than in the job.
    """
    from kiln.labeling._export_job import submit_export

    context = get_context()
    return submit_export(
        context, context.settings.project, name, dataset, description=description, user=_user()
    )


def agreement(name: str) -> AgreementReport:
    """How the annotators of ``name`` agree (alpha, kappas) and how each of them does."""
    from kiln.labeling._quality import agreement_report

    context = get_context()
    return context.db.read(agreement_report, context.settings.project, name)


def preannotate(name: str, model: str) -> Preannotation:
    """Pre-annotate the open tasks with registered model ``model`` (``models:/m@champion``)."""
    from kiln.labeling import _model_labels

    context = get_context()
    return _model_labels.preannotate(context, context.settings.project, name, model)


def next_batch(
    name: str,
    model: str,
    k: int,
    *,
    strategy: str = "margin",
    diversity: bool = False,
    seed: int | None = None,
) -> list[Task]:
    """The ``k`` tasks ``model`` is least sure of, put first in the queue (active learning)."""
    from kiln.labeling import _model_labels

    context = get_context()
    return _model_labels.next_batch(
        context,
        context.settings.project,
        name,
        model,
        k,
        strategy=strategy,
        diversity=diversity,
        seed=seed,
    )


def flag_label_errors(name: str, model: Any = None, *, folds: int = 5) -> list[int]:
    """Send the answered tasks whose label ``model`` finds unlikely to review; their ids.

    ``model`` is an unfitted scikit-learn classifier, a registered model's
    URI (its estimator is refitted, not its weights used) or None for a
    scaled logistic regression.
    """
    from kiln.labeling._estimators import flag_with

    context = get_context()
    return flag_with(context, context.settings.project, name, model, folds=folds)


def intake_low_confidence(
    name: str,
    deployment: str,
    *,
    threshold: float,
    since: datetime | None = None,
    until: datetime | None = None,
    score_output: str | None = None,
) -> Intake:
    """Make tasks of ``deployment``'s answers less sure than ``threshold`` (human in the loop)."""
    from kiln.labeling._hitl import intake_low_confidence as intake

    context = get_context()
    return intake(
        context,
        context.settings.project,
        name,
        deployment,
        threshold=threshold,
        since=since,
        until=until,
        score_output=score_output,
    )


def watch_deployment(
    name: str,
    deployment: str,
    *,
    threshold: float,
    score_output: str | None = None,
    prediction_output: str = "predictions",
) -> Watch:
    """Have the deployment's model servers turn its unsure answers into tasks as they log."""
    from kiln.labeling._watches import watch_deployment as watch

    context = get_context()
    return context.db.run(
        watch,
        context.settings.project,
        name,
        deployment,
        threshold=threshold,
        score_output=score_output,
        prediction_output=prediction_output,
        user=_user(),
    )


def unwatch_deployment(name: str, deployment: str) -> None:
    """Stop watching ``deployment`` (the tasks it added stay)."""
    from kiln.labeling._watches import unwatch_deployment as unwatch

    context = get_context()
    context.db.run(unwatch, context.settings.project, name, deployment)


def list_watches(name: str | None = None) -> list[Watch]:
    """The deployments labeling projects watch (``name``'s only, when given)."""
    from kiln.labeling._watches import list_watches as watches

    context = get_context()
    return context.db.read(watches, context.settings.project, name)
