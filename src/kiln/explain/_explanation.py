"""The two results: a global :class:`Importance` and per-row :class:`ShapExplanation`.

Both are frozen and hold NumPy arrays; ``to_frame`` (pandas) and
``to_dict`` / ``rows`` (plain Python, JSON-ready) are views of the same
numbers, so the model server and monitoring report what the SDK computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kiln.errors import InvalidInput
from kiln.explain._table import FloatArray

__all__ = ["Importance", "ShapExplanation"]


@dataclass(frozen=True)
class Importance:
    """How much each feature matters to a model overall, most important first.

    ``mean`` and ``std`` are per feature, aligned with ``features``. For
    ``method="permutation"`` they are the drop in ``metric`` from
    ``baseline`` when the feature is shuffled, over ``values`` (one row per
    repeat); for ``"mean_abs_shap"`` the mean and standard deviation over
    rows of ``|SHAP value|``, and ``metric`` names the output those values
    are in (``"probability"``, ``"prediction"`` or ``"margin"``).
    """

    features: tuple[str, ...]
    mean: FloatArray
    std: FloatArray
    method: str
    metric: str | None = None
    baseline: float | None = None
    values: FloatArray | None = None

    def to_dict(self) -> dict[str, float]:
        """Feature → mean importance, most important first."""
        return dict(zip(self.features, self.mean.tolist(), strict=True))

    def to_frame(self) -> Any:
        """A DataFrame indexed by feature with ``mean`` and ``std`` columns."""
        import pandas as pd

        frame = pd.DataFrame({"mean": self.mean, "std": self.std}, index=list(self.features))
        frame.index.name = "feature"
        return frame


def sorted_importance(
    names: tuple[str, ...], mean: FloatArray, std: FloatArray, method: str, **extra: Any
) -> Importance:
    """An :class:`Importance` with features sorted by ``mean``, descending (ties keep order)."""
    order = np.argsort(-mean, kind="stable")
    values = extra.pop("values", None)
    return Importance(
        tuple(names[j] for j in order),
        mean[order],
        std[order],
        method,
        values=None if values is None else values[:, order],
        **extra,
    )


@dataclass(frozen=True)
class ShapExplanation:
    """Shapley values: how each feature moves one row's output away from a base value.

    ``values`` has shape (rows, features), or (rows, features, outputs) for a
    model with several outputs (one per class; ``output_names`` names them).
    ``base_values`` is (rows,) or (rows, outputs). Per row and output,
    ``base_values + values.sum(axis=1) == predictions`` (efficiency).

    ``method`` is ``"tree"`` (TreeSHAP, exact), ``"exact"`` (every coalition
    against the background) or ``"sampling"`` (sampled permutations, whose
    ``standard_errors`` are given). ``output`` says what the values add up
    to: ``"prediction"``, ``"probability"`` or ``"margin"`` (the raw score
    before the link: log-odds for a binary booster).
    """

    values: FloatArray
    base_values: FloatArray
    predictions: FloatArray
    feature_names: tuple[str, ...]
    method: str
    output: str
    output_names: tuple[str, ...] = ()
    standard_errors: FloatArray | None = None

    def _strength(self) -> FloatArray:
        """|value| per row and feature (the largest over outputs when there are several)."""
        strength = np.abs(self.values)
        return strength.max(axis=2) if strength.ndim == 3 else strength

    def top(self, row: int, k: int | None = None) -> list[tuple[str, Any]]:
        """Row ``row``'s (feature, value) pairs, largest ``|value|`` first, at most ``k``."""
        if not -len(self.values) <= row < len(self.values):
            raise InvalidInput(f"row must be below {len(self.values)}, got {row}", field="row")
        order = np.argsort(-self._strength()[row], kind="stable")[:k]
        return [(self.feature_names[j], self.values[row, j].tolist()) for j in order]

    def rows(self, top_k: int | None = None) -> list[dict[str, Any]]:
        """One JSON-ready dict per row: prediction, base value, contributions, rest.

        ``contributions`` maps feature → value, largest ``|value|`` first,
        keeping the ``top_k`` largest when given; ``rest`` is the sum of the
        values left out, so ``base_value + sum(contributions) + rest ==
        prediction`` still holds. With several outputs each number is a list
        (one entry per output).
        """
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)):
            raise InvalidInput(f"top_k must be a whole number >= 1, got {top_k!r}", field="top_k")
        if top_k is not None and top_k < 1:
            raise InvalidInput(f"top_k must be a whole number >= 1, got {top_k!r}", field="top_k")
        order = np.argsort(-self._strength(), axis=1, kind="stable")
        kept = order[:, :top_k]
        index = kept[:, :, None] if self.values.ndim == 3 else kept
        shown = np.take_along_axis(self.values, index, axis=1)
        rest = self.values.sum(axis=1) - shown.sum(axis=1)
        names = np.asarray(self.feature_names, dtype=object)[kept].tolist()
        shown_list = shown.tolist()
        out = []
        for i, (base, prediction, remainder) in enumerate(
            zip(self.base_values.tolist(), self.predictions.tolist(), rest.tolist(), strict=True)
        ):
            out.append(
                {
                    "prediction": prediction,
                    "base_value": base,
                    "contributions": dict(zip(names[i], shown_list[i], strict=True)),
                    "rest": remainder,
                }
            )
        return out

    def to_frame(self) -> Any:
        """The values as a DataFrame (rows by features); one output only."""
        import pandas as pd

        if self.values.ndim == 3:
            raise InvalidInput(
                "this explanation has several outputs; select one first "
                "(explanation.values[:, :, k])",
                field="output",
            )
        return pd.DataFrame(self.values, columns=list(self.feature_names))
