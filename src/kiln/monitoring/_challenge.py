"""Champion/challenger: score both on fresh labelled data, promote only through the gate.

::

    challenge(model, challenger, data, label=)          (the current context)
      champion = the alias's holder ──► both predict ``data`` ──► metrics (and fairness)
      ──► logged on each version's run as ``challenge.<metric>`` (same data, same step)
      ──► the alias's gate: BeatsCurrent(challenge.<metric>) [+ parity within a bound]
      ──► set_alias(challenger) when ``promote``: the registry's gate decides, in the
          same transaction as the move; a failing gate leaves the champion in place

The comparison is recorded where the registry can check it (run metrics),
so a promotion made later by hand passes through the same gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kiln.errors import Conflict, InvalidInput, NotFound

__all__ = ["ChallengeResult", "challenge"]

#: Metrics a gate may compare, and whether higher is better.
DIRECTIONS: Mapping[str, str] = {
    "accuracy": "max",
    "precision": "max",
    "recall": "max",
    "f1": "max",
    "roc_auc": "max",
    "brier": "min",
    "ece": "min",
    "mae": "min",
    "rmse": "min",
    "r2": "max",
}
PREFIX = "challenge."


@dataclass(frozen=True)
class ChallengeResult:
    """Both versions' metrics on the same data, the gate's results, and whether it moved."""

    model: str
    alias: str
    champion: int | None
    challenger: int
    metrics: Mapping[str, Mapping[str, float | None]]
    promoted: bool
    gate: tuple[Any, ...] = ()
    reason: str = ""
    rows: int = 0
    fairness: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "alias": self.alias,
            "champion": self.champion,
            "challenger": self.challenger,
            "rows": self.rows,
            "metrics": {k: dict(v) for k, v in self.metrics.items()},
            "fairness": {k: dict(v) for k, v in self.fairness.items()},
            "promoted": self.promoted,
            "reason": self.reason,
            "gate": [
                {"name": r.name, "passed": r.passed, "observed": r.observed, "detail": r.detail}
                for r in self.gate
            ],
        }


def _scores(
    predictor: Any, frame: Any, label: str, task: str, positive: Any, sensitive: str | None
) -> tuple[dict[str, float | None], dict[str, float | None]]:
    import numpy as np

    from kiln.monitoring._fairness import fairness_metrics
    from kiln.monitoring._performance import classification_metrics, regression_metrics

    features = frame.drop(columns=[label])
    predicted = np.asarray(predictor.predict(features))
    if predicted.ndim == 2 and predicted.shape[1] == 1:
        predicted = predicted[:, 0]
    truth = frame[label].to_numpy()
    if task == "regression":
        found = regression_metrics(truth.astype(np.float64), predicted).to_dict()
    else:
        score = None
        if hasattr(predictor, "predict_proba") and len(np.unique(truth)) <= 2:
            try:
                proba = np.asarray(predictor.predict_proba(features), dtype=np.float64)
                score = proba[:, -1] if proba.ndim == 2 else proba
            except (AttributeError, NotImplementedError, TypeError, ValueError):
                score = None  # a model without probabilities: no ROC AUC
        found = classification_metrics(truth, predicted, y_score=score, positive=positive).to_dict()
    metrics = {k: v for k, v in found.items() if k in DIRECTIONS}
    fairness: dict[str, float | None] = {}
    if sensitive is not None:
        groups = frame[sensitive].astype(str).to_numpy()
        report = fairness_metrics(truth, predicted, groups, positive=positive).to_dict()
        for key in ("demographic_parity_difference", "equalized_odds_difference"):
            fairness[key] = report.get(key)
    return metrics, fairness


def _log(run_id: str | None, values: Mapping[str, float | None], what: str) -> None:
    from kiln import tracking

    if run_id is None:
        raise InvalidInput(
            f"model version {what} has no run to record the comparison on; register it from "
            "a tracked run",
            field="challenger",
        )
    finite = {f"{PREFIX}{k}": float(v) for k, v in values.items() if v is not None}
    # The version's own run is FINISHED; it is resumed for the evaluation (as
    # mlflow.evaluate logs onto the model's run) and finished again.
    with tracking.start_run(run_id=run_id):
        tracking.log_metrics(finite)


def _gate_checks(
    metric: str, min_delta: float, sensitive: str | None, max_parity_difference: float | None
) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = [
        {
            "type": "beats_current",
            "name": f"beats the champion on {metric}",
            "metric": f"{PREFIX}{metric}",
            "direction": DIRECTIONS[metric],
            "min_delta": min_delta,
        }
    ]
    if sensitive is not None and max_parity_difference is not None:
        checks.append(
            {
                "type": "metric_threshold",
                "name": f"demographic parity difference by {sensitive} at most "
                f"{max_parity_difference}",
                "metric": f"{PREFIX}demographic_parity_difference",
                "op": "<=",
                "value": max_parity_difference,
            }
        )
    return checks


def challenge(
    model: str,
    challenger: int,
    data: Any,
    *,
    label: str = "label",
    alias: str = "champion",
    metric: str = "f1",
    task: str = "classification",
    positive: Any = 1,
    min_delta: float = 0.0,
    sensitive: str | None = None,
    max_parity_difference: float | None = None,
    promote: bool = True,
    allow_pickle: bool = False,
    note: str = "",
) -> ChallengeResult:
    """Compare ``challenger`` with the holder of ``alias`` on ``data``; promote if the gate passes.

    ``data`` is a DataFrame (or a dataset reference) of fresh labelled rows:
    the models' input columns and ``label``. The alias's gate is set to the
    comparison's checks: the challenger must beat the champion on
    ``metric`` by ``min_delta`` and, with ``sensitive`` and
    ``max_parity_difference``, keep the demographic parity difference by
    that attribute within the bound. Without a champion the gate's
    BeatsCurrent passes (the first version simply takes the alias).
    """
    from kiln import registry

    if metric not in DIRECTIONS:
        raise InvalidInput(
            f"metric must be one of {', '.join(DIRECTIONS)}, got {metric!r}", field="metric"
        )
    if task not in ("classification", "regression"):
        raise InvalidInput("task must be classification or regression", field="task")
    frame = _frame(data)
    if label not in frame.columns:
        raise InvalidInput(f"the data has no label column {label!r}", field="label")
    if sensitive is not None and sensitive not in frame.columns:
        raise InvalidInput(f"the data has no column {sensitive!r}", field="sensitive")
    if frame.empty:
        raise InvalidInput("no labelled rows to compare the models on", field="data")
    new = registry.get_model_version(model, challenger)
    try:
        current = registry.get_model_version_by_alias(model, alias)
    except NotFound:
        current = None
    versions: Sequence[Any] = [v for v in (current, new) if v is not None]
    metrics: dict[str, dict[str, float | None]] = {}
    fairness: dict[str, dict[str, float | None]] = {}
    for version in versions:
        predictor = registry.load_model(version.uri, allow_pickle=allow_pickle)
        scored, fair = _scores(predictor, frame, label, task, positive, sensitive)
        key = (
            "champion"
            if current is not None and version.version == current.version
            else "challenger"
        )
        metrics[key], fairness[key] = scored, fair
        _log(version.run_id, scored | fair, f"{model}/{version.version}")
    if metrics["challenger"].get(metric) is None:
        raise InvalidInput(f"{metric} is undefined on this data (a single class?)", field="data")
    registry.set_gate(
        model, alias, _gate_checks(metric, min_delta, sensitive, max_parity_difference)
    )
    results = tuple(registry.check_gate(model, alias, new.version))
    promoted, reason = False, ""
    if promote and all(r.passed for r in results):
        try:
            registry.set_alias(model, alias, new.version, note=note or "challenger won")
            promoted = True
        except Conflict as error:
            reason = str(error.args[0])
    elif not all(r.passed for r in results):
        reason = "; ".join(f"{r.name}: {r.detail}" for r in results if not r.passed)
    return ChallengeResult(
        model=model,
        alias=alias,
        champion=current.version if current is not None else None,
        challenger=new.version,
        metrics=metrics,
        promoted=promoted,
        gate=results,
        reason=reason,
        rows=len(frame),
        fairness=fairness,
    )


def _frame(data: Any) -> Any:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, str):
        from kiln import data as datasets

        return datasets.load(data)
    if hasattr(data, "to_pandas"):
        return data.to_pandas()
    raise InvalidInput(
        f"data must be a pandas DataFrame or a dataset reference, got {type(data).__name__}",
        field="data",
    )
