"""Group fairness of a binary decision: how its rates differ across the groups of an attribute.

:func:`fairness_metrics` takes one sensitive attribute and reports, per
group, the selection rate, true and false positive rates and accuracy, then
the disparities between groups: demographic parity (difference and ratio),
equalized odds and disparate impact against a reference group.
:func:`fairness_by_attribute` does the same for several attributes at once.

Labels often arrive long after predictions, so ``y_true`` may be None: the
selection-rate measures need predictions only, and the label-based ones are
then None. The numbers equal fairlearn's (``fairlearn.metrics``), which the
tests check; fairlearn itself is not needed here. A rate whose denominator is
zero (no positives in a group, say) is None rather than fairlearn's 0, and
disparities are taken over the groups where the rate is defined.
docs/monitoring-performance.md gives the definitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kiln.errors import InvalidInput
from kiln.monitoring._performance import as_1d, plain, same_length

__all__ = ["FairnessReport", "GroupRates", "fairness_by_attribute", "fairness_metrics"]

AnyArray = np.ndarray[Any, Any]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class GroupRates:
    """One group's rates; None where the denominator is zero or labels are missing.

    ``disparate_impact`` is this group's selection rate over the reference
    group's (None when the reference never selects).
    """

    count: int
    selection_rate: float
    tpr: float | None
    fpr: float | None
    accuracy: float | None
    disparate_impact: float | None


@dataclass(frozen=True)
class FairnessReport:
    """The groups of one sensitive attribute and the disparities between them.

    ``worst_group`` has the lowest selection rate (the first in sorted order
    on a tie); ``disparate_impact`` is its rate over the reference group's.
    ``equalized_odds_difference`` is None without labels.
    """

    n: int
    positive: Any
    reference_group: Any
    groups: Mapping[Any, GroupRates]
    demographic_parity_difference: float
    demographic_parity_ratio: float | None
    equalized_odds_difference: float | None
    disparate_impact: float | None
    worst_group: Any

    def to_dict(self) -> dict[str, Any]:
        return dict(plain(self))


def _equals(values: AnyArray, target: Any) -> npt.NDArray[np.bool_]:
    """``values == target`` elementwise; all False when the types cannot compare."""
    found = np.asarray(values == target)
    return found.astype(bool) if found.shape == values.shape else np.zeros(values.shape, bool)


def _rates(hits: AnyArray, totals: AnyArray) -> list[float | None]:
    return [float(h / t) if t > 0 else None for h, t in zip(hits, totals, strict=True)]


def _spread(rates: list[float | None]) -> float | None:
    defined = [r for r in rates if r is not None]
    return max(defined) - min(defined) if defined else None


def _distinct(values: AnyArray, name: str) -> list[Any]:
    try:
        return list(np.unique(values).tolist())
    except TypeError as exc:
        message = f"{name} mixes values that cannot be ordered ({exc}); convert them to one type"
        raise InvalidInput(message, field=name) from exc


def _check_positive(pred: AnyArray, true: AnyArray | None, positive: Any) -> None:
    distinct = _distinct(pred, "y_pred")
    if true is not None:
        distinct += [v for v in _distinct(true, "y_true") if v not in distinct]
    # One distinct value may be a batch without positives; two without the positive is a typo.
    if len(distinct) >= 2 and positive not in distinct:
        raise InvalidInput(
            f"positive={positive!r} is not among the labels {distinct[:5]!r}; "
            "pass the label that means a favourable decision",
            field="positive",
        )


def _groups(sensitive: object, name: str, n_rows: AnyArray) -> tuple[list[Any], AnyArray]:
    values = as_1d(sensitive, name)
    same_length(n_rows, "y_pred", values, name)
    try:
        names, inverse = np.unique(values, return_inverse=True)
    except TypeError as exc:
        message = f"{name} mixes values that cannot be ordered ({exc}); convert them to str"
        raise InvalidInput(message, field=name) from exc
    return names.tolist(), inverse


def _report(
    pred: AnyArray,
    true: AnyArray | None,
    names: list[Any],
    inverse: AnyArray,
    positive: Any,
    reference_group: Any,
    field: str,
) -> FairnessReport:
    k = len(names)
    count = np.bincount(inverse, minlength=k).astype(np.float64)
    selected = _equals(pred, positive)
    selection = np.bincount(inverse, weights=selected, minlength=k) / count
    tpr: list[float | None] = [None] * k
    fpr: list[float | None] = [None] * k
    accuracy: list[float | None] = [None] * k
    eod = None
    if true is not None:
        actual = _equals(true, positive)
        hits = np.bincount(inverse, weights=selected & actual, minlength=k)
        tpr = _rates(hits, np.bincount(inverse, weights=actual, minlength=k))
        false_hits = np.bincount(inverse, weights=selected & ~actual, minlength=k)
        fpr = _rates(false_hits, np.bincount(inverse, weights=~actual, minlength=k))
        accuracy = _rates(np.bincount(inverse, weights=_equals(true, pred), minlength=k), count)
        spreads = [s for s in (_spread(tpr), _spread(fpr)) if s is not None]
        eod = max(spreads) if spreads else None
    if reference_group is None:
        ref = int(np.argmax(selection))
    elif reference_group in names:
        ref = names.index(reference_group)
    else:
        raise InvalidInput(
            f"reference_group={reference_group!r} is not one of the groups {names[:10]!r}",
            field=field,
        )
    ref_rate = float(selection[ref])
    impact = [float(s / ref_rate) if ref_rate > 0 else None for s in selection]
    worst = int(np.argmin(selection))
    top, bottom = float(selection.max()), float(selection.min())
    groups = {
        name: GroupRates(int(count[i]), float(selection[i]), tpr[i], fpr[i], accuracy[i], impact[i])
        for i, name in enumerate(names)
    }
    return FairnessReport(
        n=int(pred.size),
        positive=positive,
        reference_group=names[ref],
        groups=groups,
        demographic_parity_difference=top - bottom,
        demographic_parity_ratio=bottom / top if top > 0 else None,
        equalized_odds_difference=eod,
        disparate_impact=impact[worst],
        worst_group=names[worst],
    )


def _predictions(y_true: object, y_pred: object, positive: Any) -> tuple[AnyArray, AnyArray | None]:
    pred = as_1d(y_pred, "y_pred")
    true = None
    if y_true is not None:
        true = as_1d(y_true, "y_true")
        same_length(pred, "y_pred", true, "y_true")
    _check_positive(pred, true, positive)
    return pred, true


def fairness_metrics(
    y_true: object,
    y_pred: object,
    sensitive: object,
    *,
    positive: Any = 1,
    reference_group: Any = None,
) -> FairnessReport:
    """Per-group rates and between-group disparities for one sensitive attribute.

    ``positive`` is the favourable decision (a loan granted). ``y_true`` may
    be None when labels have not arrived. ``reference_group`` defaults to
    the group with the highest selection rate, so every disparate impact is
    at most 1. Missing values in ``sensitive`` are refused: fill them with a
    group of their own (``"unknown"``) so that they are counted on purpose.
    """
    pred, true = _predictions(y_true, y_pred, positive)
    names, inverse = _groups(sensitive, "sensitive", pred)
    return _report(pred, true, names, inverse, positive, reference_group, "reference_group")


def fairness_by_attribute(
    y_true: object,
    y_pred: object,
    sensitive: Mapping[str, object],
    *,
    positive: Any = 1,
    reference_groups: Mapping[str, Any] | None = None,
) -> dict[str, FairnessReport]:
    """:func:`fairness_metrics` for each attribute of ``sensitive`` (a mapping or DataFrame).

    ``reference_groups`` names the reference group of some attributes; the
    others use the group with the highest selection rate.
    """
    if not hasattr(sensitive, "items") or len(sensitive) == 0:
        raise InvalidInput(
            "sensitive must map each attribute name to its values, e.g. {'sex': [...]}",
            field="sensitive",
        )
    chosen = dict(reference_groups or {})
    unknown = sorted(set(chosen) - set(sensitive.keys()))
    if unknown:
        raise InvalidInput(
            f"reference_groups names attributes {unknown!r} that sensitive does not have",
            field="reference_groups",
        )
    pred, true = _predictions(y_true, y_pred, positive)
    reports = {}
    for attribute, values in sensitive.items():
        name = f"sensitive[{attribute!r}]"
        names, inverse = _groups(values, name, pred)
        field = f"reference_groups[{attribute!r}]"
        reference = chosen.get(attribute)
        reports[str(attribute)] = _report(pred, true, names, inverse, positive, reference, field)
    return reports
