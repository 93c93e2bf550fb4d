"""A retraining pipeline over a labeling project's labels (importable: steps run by reference)."""

from __future__ import annotations

from typing import Any

from kiln import pipeline, step
from kiln.labeling.steps import export_labels


@step
def fit(labels: str) -> dict[str, Any]:
    import kiln.data

    frame = kiln.data.load(labels)
    counts = frame["label"].value_counts().to_dict()
    with kiln.start_run(run_name="retrain") as run:
        kiln.log_metric("labels", len(frame))
    return {"labels": len(frame), "counts": counts, "run_id": run.id}


@pipeline
def retrain(project: str = "colours") -> Any:
    return fit(export_labels(project, dataset=f"{project}-labels"))
