"""Likely label errors among a project's answered tasks, sent to the review queue.

Confident learning (``_label_issues``) needs out-of-sample probabilities:
the given model is fitted fold by fold on the labelled tasks' numeric
fields and scores the fold it did not see. Tasks whose consensus the
model finds unlikely are flagged for review with the probability it gave;
a reviewer's decision is never second-guessed (reviewed tasks are used to
learn from, not flagged).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kiln.db.tables.labeling import LabelingTaskRow
from kiln.errors import InvalidInput
from kiln.labeling._projects import project_row

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.labeling._label_issues import Method

__all__ = ["flag_label_errors"]


def _labelled(session: Session, project: str, name: str) -> tuple[str, list[tuple[Any, ...]]]:
    owner = project_row(session, project, name)
    rows = session.execute(
        select(
            LabelingTaskRow.id,
            LabelingTaskRow.data,
            LabelingTaskRow.consensus,
            LabelingTaskRow.status,
        ).where(
            LabelingTaskRow.labeling_project_id == owner.id,
            LabelingTaskRow.status.in_(("complete", "reviewed")),
        )
    ).all()
    return owner.task_type, [tuple(row) for row in rows]


def _flag(session: Session, reasons: dict[int, str]) -> None:
    for task_id, reason in reasons.items():
        session.execute(
            update(LabelingTaskRow)
            .where(LabelingTaskRow.id == task_id)
            .values(needs_review=True, review_reason=reason)
        )


def flag_label_errors(
    context: Context,
    project: str,
    name: str,
    model: Any,
    *,
    folds: int = 5,
    method: Method = "prune_by_noise_rate",
    seed: int | None = 0,
) -> list[int]:
    """Flag the answered tasks whose label is likely wrong; their ids, likeliest first.

    ``model`` is an unfitted scikit-learn classifier (cloned per fold).
    """
    import numpy as np
    import pandas as pd

    from kiln.labeling._label_issues import cross_validated_probabilities, find_label_issues

    task_type, rows = context.db.read(_labelled, project, name)
    if task_type != "classification":
        raise InvalidInput(
            "confident learning finds errors among single labels (classification tasks)",
            field="name",
        )
    if len(rows) < 2 * folds:
        raise InvalidInput(
            f"{len(rows)} labelled tasks are too few for {folds}-fold probabilities",
            field="folds",
        )
    frame = pd.DataFrame([json.loads(data) for _, data, _, _ in rows]).select_dtypes("number")
    if frame.shape[1] == 0:
        raise InvalidInput("the tasks have no numeric fields to learn from", field="model")
    given = [json.loads(consensus) for _, _, consensus, _ in rows]
    classes, codes = np.unique(np.asarray(given, dtype=object).astype(str), return_inverse=True)
    proba = cross_validated_probabilities(
        model, frame.to_numpy(float), codes, folds=folds, seed=seed
    )
    ranked = find_label_issues(codes, proba, method=method)
    reasons: dict[int, str] = {}
    for index in np.asarray(ranked).tolist():
        task_id, _, _, status = rows[index]
        if status == "reviewed":
            continue
        likely = classes[int(proba[index].argmax())]
        reasons[task_id] = (
            f"likely label error: the model gives {given[index]!r} a probability of "
            f"{proba[index][codes[index]]:.2f} and {likely!r} {proba[index].max():.2f} "
            "(confident learning)"
        )
    context.db.run(_flag, reasons)
    return list(reasons)
