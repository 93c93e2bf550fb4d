"""Human in the loop: a deployment's unsure predictions become labeling tasks.

From the deployment's prediction log in ``[since, until)`` (answered
requests, not shadows), each input row whose confidence is below
``threshold`` becomes a task keyed ``<request id>:<row>`` — so reading the
same window again adds nothing — with the model's answer as its
pre-annotation and the least sure first in the queue. The confidence is
the logged output named ``score_output`` (a probability, or a list of class
probabilities whose largest counts), or else the answering model version's
own ``predict_proba`` on the logged inputs. Run it after a window closes,
from a schedule or a pipeline step — or let a model server do it as it
logs: a project that watches a deployment (``_watches.py``) has
``intake_table`` run on every batch the server's prediction log writes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput, KilnError
from kiln.labeling._projects import add_tasks, project_row
from kiln.labeling._schema import LabelSchema

if TYPE_CHECKING:
    import pyarrow as pa

    from kiln.context import Context

#: Model versions loaded to score logged rows, by (model name, version).
ModelCache = dict[tuple[str, int], Any]

__all__ = ["Intake", "ModelCache", "check_threshold", "intake_low_confidence", "intake_table"]


@dataclass(frozen=True)
class Intake:
    """What a pass over the prediction log found and added."""

    requests: int
    rows: int
    unsure: int
    added: int
    unscored: int


def _confidence(value: Any) -> float:
    if isinstance(value, list | tuple):
        return float(max(value))
    return float(value)


def _scores_by_model(
    context: Context, rows: list[dict[str, Any]], models: ModelCache
) -> list[float | None]:
    """Each row's largest class probability from the model version that answered it."""
    import pandas as pd

    from kiln.context import using_context
    from kiln.registry import load_model

    scores: list[float | None] = [None] * len(rows)
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        if row["_version"] is not None:
            groups[(row["_model"], int(row["_version"]))].append(index)
    for (model, version), indices in groups.items():
        try:
            predictor = models.get((model, version))
            if predictor is None:
                with using_context(context):  # the registry of this context
                    predictor = load_model(f"models:/{model}/{version}")
                models[(model, version)] = predictor
            frame = pd.DataFrame([rows[i]["_inputs"] for i in indices])
            proba = predictor.predict_proba(frame)
        except (KilnError, AttributeError, ValueError, TypeError):
            continue  # not a classifier, or gone: its rows stay unscored (counted)
        for i, probabilities in zip(indices, proba, strict=True):
            scores[i] = float(max(probabilities))
    return scores


def check_threshold(threshold: Any) -> float:
    """The confidence threshold as a float in (0, 1], or ``InvalidInput`` naming it."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise InvalidInput("threshold must be a number between 0 and 1", field="threshold")
    if not 0.0 < float(threshold) <= 1.0:
        raise InvalidInput("threshold must be above 0 and at most 1", field="threshold")
    return float(threshold)


def intake_low_confidence(
    context: Context,
    project: str,
    name: str,
    deployment: str,
    *,
    threshold: float,
    since: datetime | None = None,
    until: datetime | None = None,
    score_output: str | None = None,
    prediction_output: str = "predictions",
) -> Intake:
    """Add the deployment's rows answered with confidence below ``threshold`` as tasks."""
    from kiln.serving._predictions_index import read_predictions

    threshold = check_threshold(threshold)
    project_schema(context, project, name)  # the project exists before the log is read
    table = read_predictions(context, project, deployment, since=since, until=until)
    return intake_table(
        context,
        project,
        name,
        table,
        threshold=threshold,
        score_output=score_output,
        prediction_output=prediction_output,
    )


def project_schema(context: Context, project: str, name: str) -> LabelSchema:
    """The labeling project's label schema (``NotFound`` when there is no such project)."""
    return LabelSchema.parse(
        json.loads(context.db.read(lambda s: project_row(s, project, name).label_schema))
    )


def intake_table(
    context: Context,
    project: str,
    name: str,
    table: pa.Table,
    *,
    threshold: float,
    score_output: str | None = None,
    prediction_output: str = "predictions",
    models: ModelCache | None = None,
) -> Intake:
    """Add the unsure rows of ``table`` (the prediction log's layout) as tasks.

    ``models`` keeps the model versions loaded to score rows between calls
    (a watching model server scores every batch it logs).
    """
    import orjson

    schema = project_schema(context, project, name)
    rows: list[dict[str, Any]] = []
    requests = 0
    for record in table.to_pylist():
        if record["status"] >= 400 or record["error"] or record["route"] == "shadow":
            continue
        requests += 1
        inputs, outputs = orjson.loads(record["inputs"]), orjson.loads(record["outputs"])
        for i in range(int(record["n_rows"])):
            values = {column: series[i] for column, series in inputs.items()}
            answer = outputs.get(prediction_output)
            score = outputs.get(score_output) if score_output is not None else None
            rows.append(
                {
                    "_key": f"{record['request_id']}:{i}",
                    "_inputs": values,
                    "_model": record["model"],
                    "_version": record["version"],
                    "_answer": answer[i] if isinstance(answer, list) else None,
                    "_score": _confidence(score[i]) if isinstance(score, list) else None,
                }
            )
    scores = (
        [row["_score"] for row in rows]
        if score_output is not None
        else _scores_by_model(context, rows, models if models is not None else {})
    )
    unsure = [
        (row, score)
        for row, score in zip(rows, scores, strict=True)
        if score is not None and score < threshold
    ]
    shown = schema.shown_fields(list(rows[0]["_inputs"])) if rows else []
    predictions: dict[str, dict[str, Any]] = {}
    for row, score in unsure:
        try:
            label = schema.check(row["_answer"], row["_inputs"], what="the deployment's answer")
        except InvalidInput:
            label = None  # shown without a pre-annotation; the task is still worth asking
        model = f"models:/{row['_model']}/{row['_version']}"
        predictions[row["_key"]] = {"label": label, "score": score, "model": model}
    added: int = (
        context.db.run(
            add_tasks,
            project,
            name,
            [(row["_key"], {c: row["_inputs"].get(c) for c in shown}) for row, _ in unsure],
            origin="serving",
            predictions=predictions,
            priorities={row["_key"]: 1.0 - score for row, score in unsure},
        )
        if unsure
        else 0
    )
    return Intake(
        requests=requests,
        rows=len(rows),
        unsure=len(unsure),
        added=added,
        unscored=sum(score is None for score in scores),
    )
