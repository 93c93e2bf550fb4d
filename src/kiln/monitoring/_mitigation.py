"""Fairness mitigation: one fix before training, one after.

* :func:`reweighing_weights` (pre-processing, Kamiran and Calders 2012):
  sample weights under which the label is independent of the sensitive
  attribute; pass them as ``sample_weight`` when fitting. NumPy only.
* :func:`fit_threshold_optimizer` (post-processing, Hardt, Price and Srebro
  2016): per-group thresholds on a fitted classifier's scores that satisfy
  demographic parity or equalized odds, by fairlearn's ``ThresholdOptimizer``
  (``kiln-ml[fairness]``). Its decisions are randomised between two
  thresholds for some groups; :class:`ThresholdOptimized` fixes the seed so
  the same rows always get the same decisions.

:func:`kiln.monitoring._fairness.fairness_metrics` measures the effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from kiln.errors import InvalidInput, NotFound
from kiln.monitoring._performance import as_1d, plain, same_length

__all__ = ["ThresholdOptimized", "fit_threshold_optimizer", "reweighing_weights"]

CONSTRAINTS = ("demographic_parity", "equalized_odds")

AnyArray = np.ndarray[Any, Any]


def _codes(values: AnyArray, name: str) -> tuple[AnyArray, npt.NDArray[np.intp]]:
    try:
        uniques, inverse = np.unique(values, return_inverse=True)
    except TypeError as exc:
        message = f"{name} mixes values that cannot be ordered ({exc}); convert them to str"
        raise InvalidInput(message, field=name) from exc
    return uniques, inverse


def reweighing_weights(y: object, sensitive: object) -> npt.NDArray[np.float64]:
    """One weight per row, ``w(a, y) = P(A = a) P(Y = y) / P(A = a, Y = y)``.

    Under these weights every (group, label) cell carries the share it would
    have if the label were independent of the group, while each group's and
    each label's total weight stays as observed; the weights sum to the
    number of rows. Any number of groups and label values is accepted.
    """
    labels = as_1d(y, "y")
    groups = as_1d(sensitive, "sensitive")
    same_length(labels, "y", groups, "sensitive")
    label_values, label_idx = _codes(labels, "y")
    _, group_idx = _codes(groups, "sensitive")
    n, k = labels.size, label_values.size
    cell = group_idx * k + label_idx
    per_group = np.bincount(group_idx)[group_idx]
    per_label = np.bincount(label_idx)[label_idx]
    per_cell = np.bincount(cell)[cell]
    weights: npt.NDArray[np.float64] = (per_group * per_label) / (n * per_cell.astype(np.float64))
    return weights


@dataclass(frozen=True)
class ThresholdOptimized:
    """A fitted fairlearn ``ThresholdOptimizer`` and the seed its predictions use.

    ``groups`` are the sensitive values seen when fitting; others cannot be
    predicted (fairlearn would silently answer 0 for them).
    """

    optimizer: Any
    constraint: Literal["demographic_parity", "equalized_odds"]
    groups: tuple[Any, ...]
    random_state: int

    def predict(self, X: Any, sensitive: object) -> npt.NDArray[Any]:  # noqa: N803 (sklearn's name)
        """0/1 decisions for the rows of ``X``; the same rows always get the same answer."""
        groups = as_1d(sensitive, "sensitive")
        unseen = sorted(set(_codes(groups, "sensitive")[0].tolist()) - set(self.groups), key=str)
        if unseen:
            raise InvalidInput(
                f"sensitive holds groups {unseen[:5]!r} that the optimizer was not fitted on "
                f"(it knows {list(self.groups)!r}); refit with rows of every group",
                field="sensitive",
            )
        if len(X) != groups.size:
            raise InvalidInput(
                f"sensitive has {groups.size} rows but X has {len(X)}", field="sensitive"
            )
        decided = self.optimizer.predict(
            X, sensitive_features=groups, random_state=self.random_state
        )
        return np.asarray(decided)

    def to_dict(self) -> dict[str, Any]:
        """The constraint and, per group, fairlearn's interpolation between two thresholds.

        A row of the group is positive with probability ``p0 * [score op0 t0] +
        p1 * [score op1 t1]``; under equalized odds that is mixed, with weight
        ``p_ignore``, with the constant ``prediction_constant``.
        """
        rules = self.optimizer.interpolated_thresholder_.interpolation_dict
        groups = {}
        for group, rule in rules.items():
            entry = {
                "p0": rule.p0,
                "operator0": rule.operation0.operator,
                "threshold0": rule.operation0.threshold,
                "p1": rule.p1,
                "operator1": rule.operation1.operator,
                "threshold1": rule.operation1.threshold,
            }
            if "p_ignore" in rule:
                entry["p_ignore"] = rule.p_ignore
                entry["prediction_constant"] = rule.prediction_constant
            groups[group] = entry
        found = {"constraint": self.constraint, "random_state": self.random_state}
        return dict(plain(found | {"groups": groups}))


def _check_fitted(estimator: Any) -> None:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(estimator)
    except NotFittedError:
        raise InvalidInput(
            f"estimator {type(estimator).__name__} is not fitted; fit it before optimizing "
            "its thresholds",
            field="estimator",
        ) from None
    except TypeError as exc:
        raise InvalidInput(
            f"estimator must be a fitted scikit-learn style classifier ({exc})", field="estimator"
        ) from None


def fit_threshold_optimizer(
    estimator: Any,
    X: Any,  # noqa: N803 (sklearn's name)
    y: object,
    sensitive: object,
    *,
    constraint: Literal["demographic_parity", "equalized_odds"] = "demographic_parity",
    random_state: int = 0,
) -> ThresholdOptimized:
    """Per-group thresholds on a fitted binary classifier that satisfy ``constraint``.

    ``estimator`` is already fitted (fairlearn's ``prefit=True``) and is not
    changed; its ``predict_proba`` (or ``decision_function``) supplies the
    scores. ``y`` holds 0/1 labels of the rows of ``X``. Thresholds maximise
    accuracy subject to the constraint on these rows, so fit on data the
    estimator was not trained on.
    """
    if constraint not in CONSTRAINTS:
        raise InvalidInput(
            f"constraint must be one of {list(CONSTRAINTS)!r}, got {constraint!r}",
            field="constraint",
        )
    try:
        from fairlearn.postprocessing import (  # type: ignore[import-untyped]
            ThresholdOptimizer,
        )
    except ImportError as exc:
        raise NotFound(
            f"fit_threshold_optimizer needs the 'fairlearn' package, which cannot be imported "
            f"({exc}); install kiln-ml[fairness] to use it"
        ) from None
    labels = as_1d(y, "y")
    groups = as_1d(sensitive, "sensitive")
    same_length(labels, "y", groups, "sensitive")
    if len(X) != labels.size:
        raise InvalidInput(f"y has {labels.size} rows but X has {len(X)}", field="y")
    label_values = _codes(labels, "y")[0].tolist()
    if not set(label_values) <= {0, 1}:
        raise InvalidInput(
            f"y must hold 0/1 labels, got {label_values[:5]!r}; map the favourable label to 1",
            field="y",
        )
    found = tuple(_codes(groups, "sensitive")[0].tolist())
    _check_fitted(estimator)
    optimizer = ThresholdOptimizer(estimator=estimator, constraints=constraint, prefit=True)
    try:
        optimizer.fit(X, labels.astype(int), sensitive_features=groups)
    except ValueError as exc:
        raise InvalidInput(f"the thresholds cannot be fitted: {exc}", field="X") from exc
    return ThresholdOptimized(optimizer, constraint, found, random_state)
