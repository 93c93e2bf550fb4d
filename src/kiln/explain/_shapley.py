"""Model-agnostic Shapley values against background rows: exact, or by sampled permutations.

The value of a coalition S of features for a row x is the model's mean
output when the features in S take x's values and the others take each
background row's, ``v(S) = mean_b f(x_S, b_rest)`` (the interventional,
or baseline, Shapley value: features are treated as independent of each
other). Every coalition a method needs is evaluated in one batch per chunk
of rows: the mixed rows are gathered column by column from the explained
rows and the background, so any column type works.

``exact`` enumerates all 2^d coalitions and weighs them with the Shapley
kernel: the values are the Shapley values of v, and they sum to
``f(x) - mean f(background)``. It costs ``rows * 2^d * background`` model
evaluations. ``sampling`` averages the marginal contributions along
``n_permutations`` random orders of the features (in antithetic pairs: an
order and its reverse); each order's contributions sum to
``f(x) - mean f(background)`` exactly, so the estimate does too, and each
value is unbiased with the standard error reported. It costs about
``rows * n_permutations * (d - 1) * background`` evaluations.
"""

from __future__ import annotations

from collections.abc import Callable
from math import factorial
from typing import Any

import numpy as np

from kiln.errors import InvalidInput
from kiln.explain._explanation import ShapExplanation
from kiln.explain._table import FloatArray, Table, model_output

__all__ = ["EXACT_MAX_FEATURES", "MAX_BATCH_ROWS", "evaluations", "exact", "sampling"]

#: Above this many features ``method="auto"`` samples permutations instead of enumerating.
EXACT_MAX_FEATURES = 10
#: The most mixed rows sent to the model in one call.
MAX_BATCH_ROWS = 1 << 17

Function = Callable[[Any], Any]


def all_coalitions(d: int) -> np.ndarray[Any, Any]:
    """Every subset of ``d`` features as a boolean mask, shape (2^d, d)."""
    return ((np.arange(2**d)[:, None] >> np.arange(d)) & 1).astype(bool)


def _kernel(masks: np.ndarray[Any, Any]) -> FloatArray:
    """Weights W with ``phi = v @ W``: +w(|S|-1) where i is in S, -w(|S|) where it is not.

    w(s) = s! (d - s - 1)! / d! is the probability that, in a random order,
    exactly the s features of a given coalition come before feature i.
    """
    d = masks.shape[1]
    weight = np.array([factorial(s) * factorial(d - s - 1) / factorial(d) for s in range(d)])
    size = masks.sum(axis=1)
    inside = weight[np.clip(size - 1, 0, d - 1)][:, None]
    outside = weight[np.clip(size, 0, d - 1)][:, None]
    kernel: FloatArray = np.where(masks, inside, -outside)
    return kernel


def coalition_values(
    f: Function, rows: Table, background: Table, masks: np.ndarray[Any, Any]
) -> FloatArray:
    """``v(S)`` for every row and mask: shape (rows, masks) or (rows, masks, outputs)."""
    n, m, b = rows.n_rows, len(masks), background.n_rows
    pools = [np.concatenate([x, z]) for x, z in zip(rows.columns, background.columns, strict=True)]
    pairs = n * m
    per_call = max(1, MAX_BATCH_ROWS // b)
    chunks = []
    for start in range(0, pairs, per_call):
        pair = np.arange(start, min(start + per_call, pairs))
        row, mask = pair // m, masks[pair % m]
        from_background = n + np.arange(b)[None, :]
        mixed = []
        for j, pool in enumerate(pools):
            index = np.where(mask[:, j, None], row[:, None], from_background)
            mixed.append(pool[index.ravel()])
        out = model_output(f(rows.build(mixed)), len(pair) * b)
        chunks.append(out.reshape(len(pair), b, *out.shape[1:]).mean(axis=1))
    values = np.concatenate(chunks)
    return values.reshape(n, m, *values.shape[1:])


def evaluations(method: str, rows: int, features: int, background: int, n_permutations: int) -> int:
    """How many rows the model is asked to predict for an explanation (its cost)."""
    if method == "exact":
        return rows * (1 << features) * background
    return rows * min(1 << features, n_permutations * max(features - 1, 0) + 2) * background


def _result(
    v_full: FloatArray,
    v_empty: FloatArray,
    phi: FloatArray,
    table: Table,
    method: str,
    output: str,
    output_names: tuple[str, ...],
    errors: FloatArray | None = None,
) -> ShapExplanation:
    return ShapExplanation(
        values=phi,
        base_values=v_empty,
        predictions=v_full,
        feature_names=table.names,
        method=method,
        output=output,
        output_names=output_names if phi.ndim == 3 else (),
        standard_errors=errors,
    )


def exact(
    f: Function, rows: Table, background: Table, output: str, output_names: tuple[str, ...]
) -> ShapExplanation:
    """Shapley values from every coalition (see the module docs)."""
    d = len(rows.names)
    masks = all_coalitions(d)
    v = coalition_values(f, rows, background, masks)
    phi = np.einsum("nm...,md->nd...", v, _kernel(masks))
    return _result(v[:, -1], v[:, 0], phi, rows, "exact", output, output_names)


def sampling(
    f: Function,
    rows: Table,
    background: Table,
    output: str,
    output_names: tuple[str, ...],
    *,
    n_permutations: int,
    seed: int,
) -> ShapExplanation:
    """Shapley values estimated from antithetic pairs of random feature orders."""
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, int):
        raise InvalidInput("n_permutations must be a whole number", field="n_permutations")
    if n_permutations < 2 or n_permutations % 2:
        raise InvalidInput(
            f"n_permutations must be even and >= 2 (orders come in pairs), got {n_permutations}",
            field="n_permutations",
        )
    d = len(rows.names)
    rng = np.random.default_rng(seed)
    half = np.argsort(rng.random((n_permutations // 2, d)), axis=1)
    orders = np.concatenate([half, half[:, ::-1]])
    rank = np.argsort(orders, axis=1)
    prefixes = rank[:, None, :] < np.arange(d + 1)[None, :, None]
    masks, inverse = np.unique(prefixes.reshape(-1, d), axis=0, return_inverse=True)
    v_unique = coalition_values(f, rows, background, masks)
    shape = (rows.n_rows, n_permutations, d + 1, *v_unique.shape[2:])
    v = v_unique[:, inverse.ravel()].reshape(shape)
    steps = v[:, :, 1:] - v[:, :, :-1]
    index = rank[None, :, :]
    if steps.ndim == 4:
        index = index[..., None]
    per_order = np.take_along_axis(steps, index, axis=2)
    pairs = (per_order[:, : n_permutations // 2] + per_order[:, n_permutations // 2 :]) / 2
    phi = pairs.mean(axis=1)
    errors = pairs.std(axis=1, ddof=1) / np.sqrt(pairs.shape[1]) if pairs.shape[1] > 1 else None
    return _result(v[:, 0, -1], v[:, 0, 0], phi, rows, "sampling", output, output_names, errors)
