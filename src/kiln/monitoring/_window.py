"""One window of a monitor: every section of its report, and the flat metrics rules read.

::

    evaluate_window(profile, spec, table) ──► {"drift", "prediction_drift", "quality",
                                              "performance", "fairness", "outliers"}
    window_metrics(window) ──► {"drift.share": 0.2, "performance.f1": 0.9, …}

The window's ``table`` holds one row per scored input row: the input
columns, the prediction (and score) outputs and, when labels arrived, the
label column. A section that does not apply (no labels yet, no sensitive
attribute configured) is None; a section that cannot be computed for this
window says why in ``skipped`` rather than failing the window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kiln.errors import InvalidInput
from kiln.monitoring._drift import check_drift
from kiln.monitoring._monitor_spec import MonitorSpec
from kiln.monitoring._quality import check_quality
from kiln.monitoring._reference import NumericSketch, ReferenceProfile

__all__ = ["evaluate_window", "feature_columns", "window_metrics"]

#: The robust z-score's scale: 1.4826 · MAD estimates the standard deviation of normal data.
MAD_SCALE = 1.4826


def feature_columns(profile: ReferenceProfile, spec: MonitorSpec, label: str | None) -> list[str]:
    """The spec's features, or every profiled column but the prediction, score and label."""
    if spec.features is not None:
        return list(spec.features)
    left_out = {spec.prediction, spec.score, label, spec.label}
    return [name for name in [*profile.columns, *profile.skipped] if name not in left_out]


def _prediction_drift(profile: ReferenceProfile, spec: MonitorSpec, table: pa.Table) -> Any:
    name = spec.prediction
    if name is None or name not in profile.columns or name not in table.column_names:
        return None
    found = check_drift(profile, table, columns=[name], tests=_tests_for(spec, name))
    return found.columns[name].to_dict() | {"column": name}


def _tests_for(spec: MonitorSpec, name: str) -> str | Mapping[str, str] | None:
    if isinstance(spec.tests, Mapping):
        return {name: spec.tests[name]} if name in spec.tests else None
    return spec.tests


def _labelled(table: pa.Table, spec: MonitorSpec, label: str) -> pa.Table | None:
    if label not in table.column_names or spec.prediction not in table.column_names:
        return None
    keep = pc.and_(pc.is_valid(table[label]), pc.is_valid(table[spec.prediction]))
    labelled = table.filter(keep)
    return labelled if labelled.num_rows else None


def _values(column: pa.ChunkedArray) -> np.ndarray[Any, Any]:
    return np.asarray(column.to_numpy(zero_copy_only=False))


def _performance(
    table: pa.Table, spec: MonitorSpec, label: str, unknown: int
) -> dict[str, Any] | None:
    if spec.task is None:
        return None
    from kiln.monitoring._performance import classification_metrics, regression_metrics

    labelled = _labelled(table, spec, label)
    found: dict[str, Any] = {"task": spec.task, "labeled": 0, "unknown_label_ids": unknown}
    if labelled is None:
        return found | {"metrics": None, "calibration": None, "skipped": "no labels yet"}
    found["labeled"] = labelled.num_rows
    y_true = _values(labelled[label])
    y_pred = _values(labelled[spec.prediction])
    try:
        if spec.task == "regression":
            metrics = regression_metrics(y_true.astype(np.float64), y_pred).to_dict()
            return found | {"metrics": metrics, "calibration": None}
        score = None
        if spec.score is not None and spec.score in labelled.column_names:
            score = _values(labelled[spec.score]).astype(np.float64)
        computed = classification_metrics(y_true, y_pred, y_score=score, positive=spec.positive)
    except InvalidInput as error:
        return found | {"metrics": None, "calibration": None, "skipped": str(error.args[0])}
    everything = computed.to_dict()
    bins = everything.pop("reliability", None)
    metrics = {k: v for k, v in everything.items() if v is None or _number(v) is not None}
    details = {k: v for k, v in everything.items() if k not in metrics}
    calibration = {"bins": bins} if bins else None
    return found | {"metrics": metrics, "calibration": calibration} | details


def _fairness(table: pa.Table, spec: MonitorSpec, label: str) -> dict[str, Any] | None:
    if not spec.sensitive or spec.prediction not in table.column_names:
        return None
    from kiln.monitoring._fairness import fairness_metrics

    predicted = table.filter(pc.is_valid(table[spec.prediction]))
    found: dict[str, Any] = {}
    for attribute in spec.sensitive:
        if attribute not in predicted.column_names:
            found[attribute] = {"skipped": "not in the current data"}
            continue
        rows = predicted.filter(pc.is_valid(predicted[attribute]))
        labelled = label in rows.column_names and rows[label].null_count == 0 and rows.num_rows
        y_true = _values(rows[label]) if labelled else None
        try:
            report = fairness_metrics(
                y_true,
                _values(rows[spec.prediction]),
                _values(rows[attribute]).astype(str),
                positive=spec.positive,
            )
        except InvalidInput as error:
            found[attribute] = {"skipped": str(error.args[0])}
            continue
        found[attribute] = report.to_dict()
    return found


def _outliers(
    profile: ReferenceProfile, spec: MonitorSpec, table: pa.Table, features: list[str]
) -> dict[str, Any] | None:
    """Robust z-scores against the reference median and MAD; a row is an outlier on any column."""
    if spec.outliers is None or table.num_rows == 0:
        return None
    flagged = np.zeros(table.num_rows, dtype=bool)
    per_column: dict[str, float] = {}
    for name in features:
        sketch = profile.columns.get(name)
        if not isinstance(sketch, NumericSketch) or name not in table.column_names:
            continue
        if sketch.mad == 0 or pa.types.is_string(table.schema.field(name).type):
            continue  # a reference that is mostly one value has no robust scale
        column = table.column(name).cast(pa.float64())
        values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
        with np.errstate(invalid="ignore"):
            outside = (
                np.abs(values - sketch.median) > spec.outlier_threshold * MAD_SCALE * sketch.mad
            )
        outside &= ~np.isnan(values)
        per_column[name] = float(outside.mean())
        flagged |= outside
    return {
        "method": spec.outliers,
        "threshold": spec.outlier_threshold,
        "share": float(flagged.mean()),
        "count": int(flagged.sum()),
        "columns": per_column,
    }


def evaluate_window(
    profile: ReferenceProfile,
    spec: MonitorSpec,
    table: pa.Table,
    *,
    label: str | None = None,
    type_errors: Mapping[str, int] | None = None,
    unknown_labels: int = 0,
) -> dict[str, Any]:
    """Every section of one window's report (see docs/monitoring-report.md)."""
    label = label or spec.label
    features = feature_columns(profile, spec, label)
    drift = check_drift(
        profile,
        table,
        columns=features,
        tests=spec.tests,
        thresholds=spec.thresholds,
        correction=spec.correction,
        drift_share=spec.drift_share,
    )
    profiled = [name for name in features if name in profile.columns]
    quality = check_quality(
        profile, table, columns=profiled, limits=spec.quality, type_errors=type_errors
    )
    explanations = None
    if spec.explain:
        from kiln.monitoring._window_explain import explain_window

        explanations = explain_window(table, profiled, label)
    return {
        "rows": table.num_rows,
        "explanations": explanations,
        "drift": drift.to_dict(),
        "prediction_drift": _prediction_drift(profile, spec, table),
        "quality": quality.to_dict(),
        "performance": _performance(table, spec, label, unknown_labels),
        "fairness": _fairness(table, spec, label),
        "outliers": _outliers(profile, spec, table, profiled),
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def window_metrics(window: Mapping[str, Any]) -> dict[str, float]:
    """The flat metrics of a window, by the names alert rules use (docs/monitoring.md)."""
    found: dict[str, float | None] = {"rows": _number(window.get("rows"))}
    drift = window.get("drift") or {}
    for key in ("share", "drifted", "columns_checked", "dataset_drift"):
        found[f"drift.{key}"] = _number(drift.get(key))
    for name, column in (drift.get("columns") or {}).items():
        found[f"drift.{name}.statistic"] = _number(column.get("statistic"))
        found[f"drift.{name}.drift"] = _number(column.get("drift"))
    prediction = window.get("prediction_drift") or {}
    if prediction:
        found["prediction_drift.statistic"] = _number(prediction.get("statistic"))
        found["prediction_drift.drift"] = _number(prediction.get("drift"))
    quality = window.get("quality") or {}
    findings = quality.get("findings") or []
    found["quality.findings"] = float(len(findings))
    found["quality.critical"] = float(sum(1 for f in findings if f.get("severity") == "critical"))
    for name, measured in (quality.get("columns") or {}).items():
        found[f"quality.{name}.null_share"] = _number(measured.get("null_share"))
    performance = window.get("performance") or {}
    for key, value in (performance.get("metrics") or {}).items():
        found[f"performance.{key}"] = _number(value)
    if performance:
        found["performance.labeled"] = _number(performance.get("labeled"))
        found["performance.unknown_label_ids"] = _number(performance.get("unknown_label_ids"))
    for attribute, report in (window.get("fairness") or {}).items():
        for key, value in report.items():
            found[f"fairness.{attribute}.{key}"] = _number(value)
    outliers = window.get("outliers") or {}
    if outliers:
        found["outliers.share"] = _number(outliers.get("share"))
    return {key: value for key, value in found.items() if value is not None}
