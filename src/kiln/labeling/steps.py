"""Pipeline steps for labeling: the labels so far, as a dataset version a retraining step reads.

``export_labels`` is never cached: the same project gives new labels as
annotators work, so each run exports again (and an unchanged set of labels
is the same dataset version, so nothing is stored twice)::

    from kiln import pipeline, step
    from kiln.labeling.steps import export_labels

    @pipeline
    def retrain(project: str = "sentiment"):
        labels = export_labels(project, dataset="sentiment-labels")
        return train(labels)
"""

from __future__ import annotations

from kiln.pipelines import step

__all__ = ["export_labels"]


@step(cache=False)
def export_labels(project: str, dataset: str) -> str:
    """The labelled tasks of labeling project ``project`` as the next version of ``dataset``."""
    from kiln.labeling._fluent import export

    version = export(project, dataset=dataset)
    assert not isinstance(version, int)
    return f"{dataset}@{version.version}"
