"""Labeling: projects, tasks, annotations, agreement, active learning (issue 11).

::

    agreement                _agreement.py       Cohen's and Fleiss' kappa, Krippendorff's
                                                 alpha, consensus, annotator accuracy
    active learning          _strategies.py      least confidence, margin, entropy,
                                                 diversity-aware batches
    label quality            _label_issues.py    confident learning on cross-validated
                                                 probabilities
    simulation               _simulate.py        learning curves: active against random

    schema                   _schema.py          task types, labels; every label is checked
    projects, tasks          _projects.py, _intake.py   over dataset versions or any table
    the queue                _tasks.py           next task, answers, consensus, review
    export                   _export.py          a dataset version, JSON Lines, CSV
    export as a job          _export_job.py      a large project's export in the background
    agreement report         _quality.py         per project and per annotator
    a model's opinion        _model_labels.py    pre-annotations checked by the schema;
                                                 next_batch (active learning)
    label errors             _label_errors.py    confident learning → the review queue
    webhooks                 _answers.py         told when a task completes
    human in the loop        _hitl.py            a deployment's unsure answers → tasks
    watches                  _watches.py         … as a model server logs them

Importing this package imports no NumPy: names load on first use.
docs/labeling.md is the guide.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiln.labeling._agreement import (
        AnnotatorStats,
        annotator_stats,
        cohen_kappa,
        consensus,
        consensus_multilabel,
        fleiss_kappa,
        krippendorff_alpha,
        rating_counts,
    )
    from kiln.labeling._entities import Annotation, LabelingProject, Task
    from kiln.labeling._fluent import (
        add_tasks,
        agreement,
        create_project,
        delete_project,
        export,
        export_in_background,
        flag_label_errors,
        get_project,
        intake_low_confidence,
        list_projects,
        list_watches,
        next_batch,
        next_task,
        preannotate,
        review,
        review_queue,
        submit,
        unwatch_deployment,
        watch_deployment,
    )
    from kiln.labeling._hitl import Intake
    from kiln.labeling._label_issues import cross_validated_probabilities, find_label_issues
    from kiln.labeling._model_labels import Preannotation, Rejection
    from kiln.labeling._quality import AgreementReport, AnnotatorReport
    from kiln.labeling._schema import LabelSchema, Span
    from kiln.labeling._simulate import (
        LearningCurve,
        compare_strategies,
        labels_to_reach,
        learning_curve,
        plot_learning_curves,
    )
    from kiln.labeling._strategies import (
        STRATEGIES,
        entropy,
        least_confidence,
        margin,
        select_batch,
    )
    from kiln.labeling._tasks import Submitted
    from kiln.labeling._watches import Watch

# name -> module that defines it; resolved on first attribute access.
_LAZY: dict[str, str] = {
    "AgreementReport": "kiln.labeling._quality",
    "Annotation": "kiln.labeling._entities",
    "AnnotatorReport": "kiln.labeling._quality",
    "AnnotatorStats": "kiln.labeling._agreement",
    "Intake": "kiln.labeling._hitl",
    "LabelSchema": "kiln.labeling._schema",
    "LabelingProject": "kiln.labeling._entities",
    "LearningCurve": "kiln.labeling._simulate",
    "Preannotation": "kiln.labeling._model_labels",
    "Rejection": "kiln.labeling._model_labels",
    "STRATEGIES": "kiln.labeling._strategies",
    "Span": "kiln.labeling._schema",
    "Submitted": "kiln.labeling._tasks",
    "Task": "kiln.labeling._entities",
    "add_tasks": "kiln.labeling._fluent",
    "agreement": "kiln.labeling._fluent",
    "annotator_stats": "kiln.labeling._agreement",
    "cohen_kappa": "kiln.labeling._agreement",
    "compare_strategies": "kiln.labeling._simulate",
    "consensus": "kiln.labeling._agreement",
    "consensus_multilabel": "kiln.labeling._agreement",
    "create_project": "kiln.labeling._fluent",
    "cross_validated_probabilities": "kiln.labeling._label_issues",
    "delete_project": "kiln.labeling._fluent",
    "entropy": "kiln.labeling._strategies",
    "export": "kiln.labeling._fluent",
    "export_in_background": "kiln.labeling._fluent",
    "find_label_issues": "kiln.labeling._label_issues",
    "flag_label_errors": "kiln.labeling._fluent",
    "fleiss_kappa": "kiln.labeling._agreement",
    "get_project": "kiln.labeling._fluent",
    "intake_low_confidence": "kiln.labeling._fluent",
    "krippendorff_alpha": "kiln.labeling._agreement",
    "labels_to_reach": "kiln.labeling._simulate",
    "learning_curve": "kiln.labeling._simulate",
    "least_confidence": "kiln.labeling._strategies",
    "list_projects": "kiln.labeling._fluent",
    "list_watches": "kiln.labeling._fluent",
    "margin": "kiln.labeling._strategies",
    "next_batch": "kiln.labeling._fluent",
    "next_task": "kiln.labeling._fluent",
    "plot_learning_curves": "kiln.labeling._simulate",
    "preannotate": "kiln.labeling._fluent",
    "rating_counts": "kiln.labeling._agreement",
    "review": "kiln.labeling._fluent",
    "review_queue": "kiln.labeling._fluent",
    "select_batch": "kiln.labeling._strategies",
    "submit": "kiln.labeling._fluent",
    "unwatch_deployment": "kiln.labeling._fluent",
    "watch_deployment": "kiln.labeling._fluent",
    "Watch": "kiln.labeling._watches",
}

__all__ = [
    "STRATEGIES",
    "AgreementReport",
    "Annotation",
    "AnnotatorReport",
    "AnnotatorStats",
    "Intake",
    "LabelSchema",
    "LabelingProject",
    "LearningCurve",
    "Preannotation",
    "Rejection",
    "Span",
    "Submitted",
    "Task",
    "Watch",
    "add_tasks",
    "agreement",
    "annotator_stats",
    "cohen_kappa",
    "compare_strategies",
    "consensus",
    "consensus_multilabel",
    "create_project",
    "cross_validated_probabilities",
    "delete_project",
    "entropy",
    "export",
    "export_in_background",
    "find_label_issues",
    "flag_label_errors",
    "fleiss_kappa",
    "get_project",
    "intake_low_confidence",
    "krippendorff_alpha",
    "labels_to_reach",
    "learning_curve",
    "least_confidence",
    "list_projects",
    "list_watches",
    "margin",
    "next_batch",
    "next_task",
    "plot_learning_curves",
    "preannotate",
    "rating_counts",
    "review",
    "review_queue",
    "select_batch",
    "submit",
    "unwatch_deployment",
    "watch_deployment",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kiln.labeling' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
