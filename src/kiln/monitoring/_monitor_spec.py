"""What a monitor computes, as an inert, validated spec (JSON both ways).

A spec names the stored reference profile it compares with (pinned to a
version), which input columns are features, which output is the
prediction, how labels are read for performance, the sensitive attributes
for fairness, the window length, and the tests' settings. Constructing one
validates it; nothing is read or computed until a monitor is evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from kiln.errors import InvalidInput
from kiln.monitoring._quality import QualityLimits

__all__ = ["MonitorSpec", "parse_window"]

TASKS = ("classification", "regression")
OUTLIER_METHODS = ("robust_z",)
CORRECTIONS = ("bonferroni", "holm", "fdr_bh")
_WINDOW = re.compile(r"(\d+)\s*(s|min|m|h|d)")
_UNITS = {"s": 1, "min": 60, "m": 60, "h": 3600, "d": 86400}


def parse_window(window: str | timedelta, *, field: str = "window") -> timedelta:
    """``"15min"``, ``"1h"``, ``"1d"``, ``"30s"`` or a timedelta, at least one second."""
    if isinstance(window, timedelta):
        found = window
    elif isinstance(window, str) and (match := _WINDOW.fullmatch(window.strip())):
        found = timedelta(seconds=int(match[1]) * _UNITS[match[2]])
    else:
        raise InvalidInput(
            f"window {window!r} is not a duration such as 15min, 1h or 1d", field=field
        )
    if found < timedelta(seconds=1):
        raise InvalidInput(f"window must be at least 1 second, got {window!r}", field=field)
    return found


def _names(value: Any, field: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInput(f"{field} must be a list of column names, got {value!r}", field=field)
    for item in value:
        if not isinstance(item, str) or not item:
            raise InvalidInput(f"{field} must hold column names, got {item!r}", field=field)
    return tuple(value)


def _limits(values: Mapping[str, Any]) -> QualityLimits:
    known = set(QualityLimits.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise InvalidInput(
            f"unknown quality limit {', '.join(unknown)}; known: {', '.join(sorted(known))}",
            field="quality",
        )
    return QualityLimits(**values)


@dataclass(frozen=True)
class MonitorSpec:
    """How a monitor reads its target and what it computes for each window.

    * ``profile``: the reference, ``name@version`` (``@latest`` is pinned when
      the monitor is created).
    * ``features``: the columns whose drift and quality are checked
      (default: every column of the profile except the ``prediction``,
      ``score`` and ``label`` columns).
    * ``prediction``: the output (deployment; a model server logs a plain
      result as ``predictions``) or column (dataset) holding the prediction;
      its drift is checked when the profile has a column of that name.
    * ``score``: the output holding the probability of ``positive`` (ROC AUC,
      calibration); ``task`` (classification or regression) turns on
      performance once labels exist; ``label`` names the label column of a
      dataset target (a deployment's labels are the ones posted for it).
    * ``sensitive``: input columns that are sensitive attributes (fairness).
    * ``window``: the length of each evaluated window (deployments).
    * ``tests``, ``thresholds``, ``correction``, ``drift_share``: as
      :func:`~kiln.monitoring.check_drift`; ``quality``: the
      :class:`~kiln.monitoring.QualityLimits`.
    * ``outliers``: ``robust_z`` (a row is an outlier when any feature is
      more than ``outlier_threshold`` robust z-scores from the reference
      median) or None.
    * ``explain``: also explain, per window, the model version that answered
      most of its rows (mean |SHAP| for tree models with kiln-ml[shap], else
      permutation importance once labels exist); it loads that model.
    """

    profile: str
    features: tuple[str, ...] | None = None
    prediction: str | None = "predictions"
    score: str | None = None
    task: str | None = None
    positive: Any = 1
    label: str = "label"
    sensitive: tuple[str, ...] = ()
    window: str = "1h"
    tests: str | Mapping[str, str] | None = None
    thresholds: Mapping[str, float] = field(default_factory=dict)
    correction: str | None = None
    drift_share: float = 0.5
    quality: QualityLimits = field(default_factory=QualityLimits)
    outliers: str | None = "robust_z"
    outlier_threshold: float = 3.5
    explain: bool = False

    def __post_init__(self) -> None:
        from kiln.monitoring._profiles import parse_profile_ref

        parse_profile_ref(self.profile)
        object.__setattr__(self, "features", _names(self.features, "features"))
        object.__setattr__(self, "sensitive", _names(self.sensitive, "sensitive") or ())
        for name in ("prediction", "score"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidInput(f"{name} must be an output name or None", field=name)
        if self.task is not None and self.task not in TASKS:
            raise InvalidInput(
                f"task must be classification, regression or None, got {self.task!r}", field="task"
            )
        if not isinstance(self.label, str) or not self.label:
            raise InvalidInput("label must be a column name", field="label")
        parse_window(self.window)
        if self.correction is not None and self.correction not in CORRECTIONS:
            raise InvalidInput(
                f"correction must be one of {', '.join(CORRECTIONS)} or None", field="correction"
            )
        if not isinstance(self.drift_share, int | float) or not 0 < self.drift_share <= 1:
            raise InvalidInput("drift_share must be in (0, 1]", field="drift_share")
        if self.outliers is not None and self.outliers not in OUTLIER_METHODS:
            raise InvalidInput(
                f"outliers must be {' or '.join(OUTLIER_METHODS)} or None", field="outliers"
            )
        if not isinstance(self.outlier_threshold, int | float) or self.outlier_threshold <= 0:
            raise InvalidInput(
                "outlier_threshold must be a positive number", field="outlier_threshold"
            )
        if not isinstance(self.explain, bool):
            raise InvalidInput("explain must be true or false", field="explain")
        if isinstance(self.quality, Mapping):
            object.__setattr__(self, "quality", _limits(self.quality))
        elif not isinstance(self.quality, QualityLimits):
            raise InvalidInput("quality must be QualityLimits or a mapping", field="quality")

    @property
    def window_length(self) -> timedelta:
        return parse_window(self.window)

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["features"] = list(self.features) if self.features is not None else None
        found["sensitive"] = list(self.sensitive)
        found["tests"] = dict(self.tests) if isinstance(self.tests, Mapping) else self.tests
        found["thresholds"] = dict(self.thresholds)
        return found

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorSpec:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInput(
                f"unknown monitor setting {', '.join(unknown)}; known: {', '.join(sorted(known))}",
                field=unknown[0],
            )
        if "profile" not in data:
            raise InvalidInput(
                "a monitor needs a reference profile (name@version)", field="profile"
            )
        return cls(**dict(data))
