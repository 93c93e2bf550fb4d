"""How well a project's annotators agree, and how each of them does.

Read from the stored answers (skips left out): Krippendorff's alpha over
every task two or more answered (it takes missing answers), Fleiss' kappa
over the tasks with the project's full overlap (it needs the same number
of raters per item), Cohen's kappa for each pair of annotators on the
tasks both answered, and per annotator: answers, skips, time per answer,
accuracy on gold tasks and agreement with the others. Labels compare by
their JSON form, so multi-label sets and span lists agree only when equal.
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.db.tables.labeling import AnnotationRow, LabelingTaskRow
from kiln.labeling._projects import project_row

__all__ = ["AgreementReport", "AnnotatorReport", "agreement_report"]

#: Pairs of annotators with fewer shared tasks get no Cohen's kappa (too few to say).
MIN_SHARED = 5


@dataclass(frozen=True)
class AnnotatorReport:
    """One annotator's record in a project."""

    annotator: str
    answers: int
    skips: int
    median_seconds: float | None
    gold_answers: int
    gold_accuracy: float | None
    pairwise_agreement: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class AgreementReport:
    """Agreement over a project's answered tasks, and each annotator's record."""

    tasks_with_answers: int
    tasks_shared: int
    krippendorff_alpha: float | None
    fleiss_kappa: float | None
    fleiss_tasks: int
    cohen_kappa: list[dict[str, Any]] = field(default_factory=list)
    annotators: list[AnnotatorReport] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tasks_with_answers": self.tasks_with_answers,
            "tasks_shared": self.tasks_shared,
            "krippendorff_alpha": self.krippendorff_alpha,
            "fleiss_kappa": self.fleiss_kappa,
            "fleiss_tasks": self.fleiss_tasks,
            "cohen_kappa": self.cohen_kappa,
            "annotators": [a.to_dict() for a in self.annotators],
        }


def _safe(compute: Any, *args: Any, **kwargs: Any) -> float | None:
    """A statistic, or None where it is undefined (one label only, too few items)."""
    import math

    from kiln.errors import InvalidInput

    try:
        value = float(compute(*args, **kwargs))
    except (InvalidInput, ValueError, ZeroDivisionError):
        return None
    return None if math.isnan(value) else value


def agreement_report(session: Session, project: str, name: str) -> AgreementReport:
    """The agreement of labeling project ``name`` as its answers stand now."""
    from kiln.labeling._agreement import (
        annotator_stats,
        cohen_kappa,
        fleiss_kappa,
        krippendorff_alpha,
        rating_counts,
    )

    owner = project_row(session, project, name)
    rows = session.execute(
        select(
            AnnotationRow.task_id,
            AnnotationRow.annotator,
            AnnotationRow.label,
            AnnotationRow.skipped,
            AnnotationRow.seconds,
            LabelingTaskRow.gold,
        )
        .join(LabelingTaskRow, LabelingTaskRow.id == AnnotationRow.task_id)
        .where(LabelingTaskRow.labeling_project_id == owner.id)
    ).all()
    answers: dict[Hashable, dict[Hashable, Hashable]] = defaultdict(dict)
    gold: dict[Hashable, Hashable] = {}
    skips: dict[str, int] = defaultdict(int)
    seconds: dict[str, list[float]] = defaultdict(list)
    for task_id, annotator, label, skipped, took, answer in rows:
        if skipped or label is None:
            skips[annotator] += 1
            continue
        answers[task_id][annotator] = json.dumps(json.loads(label), sort_keys=True)
        if answer is not None:
            gold[task_id] = json.dumps(json.loads(answer), sort_keys=True)
        if took is not None:
            seconds[annotator].append(float(took))
    people = sorted({str(a) for by in answers.values() for a in by} | set(skips))
    shared = {task: by for task, by in answers.items() if len(by) >= 2}
    table = [[shared[task].get(person) for task in shared] for person in people]
    alpha = _safe(krippendorff_alpha, table) if shared else None
    full = [list(by.values()) for by in shared.values() if len(by) == owner.overlap]
    kappa = _safe(lambda: fleiss_kappa(rating_counts(full)[0])) if full else None
    pairs = []
    for a, b in itertools.combinations(people, 2):
        both = [task for task, by in answers.items() if a in by and b in by]
        if len(both) >= MIN_SHARED:
            value = _safe(cohen_kappa, [answers[t][a] for t in both], [answers[t][b] for t in both])
            pairs.append({"annotators": [a, b], "tasks": len(both), "kappa": value})
    stats = annotator_stats(answers, gold=gold)
    reports = [
        AnnotatorReport(
            annotator=person,
            answers=stats[person].count if person in stats else 0,
            skips=skips.get(person, 0),
            median_seconds=statistics.median(seconds[person]) if seconds.get(person) else None,
            gold_answers=stats[person].gold_count if person in stats else 0,
            gold_accuracy=stats[person].gold_accuracy if person in stats else None,
            pairwise_agreement=stats[person].pairwise_agreement if person in stats else None,
        )
        for person in people
    ]
    return AgreementReport(
        tasks_with_answers=len(answers),
        tasks_shared=len(shared),
        krippendorff_alpha=alpha,
        fleiss_kappa=kappa,
        fleiss_tasks=len(full),
        cohen_kappa=pairs,
        annotators=reports,
    )
