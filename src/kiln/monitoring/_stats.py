"""Two-sample drift tests: one reference sample against one current sample.

Every test returns a frozen :class:`TestResult`. Where SciPy has the test we
call it (imported inside the function, so importing this module stays cheap)
and our numbers are SciPy's; we implement only what SciPy lacks: PSI, the
Wasserstein distance normalized by the reference standard deviation, the
multiple-testing corrections and the automatic choice.

Numeric tests take raw values; NaNs are dropped and counted in ``details``.
The categorical tests (:func:`chi_square`, :func:`g_test`,
:func:`jensen_shannon`) take two aligned count vectors, one entry per
category; :func:`category_counts` builds them from raw values. :func:`psi`
takes raw values of either kind. docs/monitoring.md gives the definitions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from kiln.errors import InvalidInput

__all__ = [
    "TestResult",
    "category_counts",
    "chi_square",
    "choose_test",
    "correct",
    "cramer_von_mises",
    "g_test",
    "jensen_shannon",
    "ks_test",
    "psi",
    "wasserstein",
]

#: Added to an empty bin's proportion so that PSI's logarithm stays finite.
PSI_EPSILON = 1e-4
#: Above this many reference rows :func:`choose_test` prefers a distance.
LARGE_SAMPLE = 1000
#: The smallest mean expected count per cell for which chi-square is chosen.
MIN_EXPECTED = 5.0

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TestResult:
    """One test's outcome.

    ``drift`` is ``p_value < threshold`` for a hypothesis test and
    ``statistic > threshold`` for a distance (where ``p_value`` is None).
    """

    __test__ = False  # not a pytest test class

    test: str
    statistic: float
    p_value: float | None
    drift: bool
    threshold: float
    details: Mapping[str, Any] = field(default_factory=dict)


def _scipy_stats() -> Any:
    """``scipy.stats``, imported on first use (SciPy ships no type stubs)."""
    from scipy import stats

    return stats


def _numeric(values: object, name: str) -> tuple[FloatArray, int]:
    """Return ``values`` as a 1-D float array without NaNs, and how many were dropped."""
    try:
        array = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must be numeric: {exc}", field=name) from exc
    keep = ~np.isnan(array)
    clean = array[keep]
    if clean.size == 0:
        raise InvalidInput(
            f"{name} is empty (after dropping {array.size} NaN values); pass at least one value",
            field=name,
        )
    return clean, int(array.size - clean.size)


def _counts(values: object, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise InvalidInput(f"{name} is empty; pass one count per category", field=name)
    if np.any(~np.isfinite(array)) or np.any(array < 0):
        raise InvalidInput(f"{name} must hold finite counts >= 0, got {array!r}", field=name)
    if array.sum() == 0:
        raise InvalidInput(f"{name} sums to zero; pass at least one observation", field=name)
    return array


def _aligned(reference_counts: object, current_counts: object) -> tuple[FloatArray, FloatArray]:
    ref = _counts(reference_counts, "reference_counts")
    cur = _counts(current_counts, "current_counts")
    if ref.shape != cur.shape:
        raise InvalidInput(
            f"current_counts has {cur.size} categories but reference_counts has {ref.size}; "
            "align them with category_counts()",
            field="current_counts",
        )
    return ref, cur


def _nan_details(n_ref: int, n_cur: int, nan_ref: int, nan_cur: int) -> dict[str, Any]:
    return {
        "n_reference": n_ref,
        "n_current": n_cur,
        "nan_reference": nan_ref,
        "nan_current": nan_cur,
    }


def ks_test(reference: object, current: object, *, threshold: float = 0.05) -> TestResult:
    """Two-sample Kolmogorov-Smirnov test, as ``scipy.stats.ks_2samp`` (two-sided, method auto)."""
    stats = _scipy_stats()

    ref, nan_ref = _numeric(reference, "reference")
    cur, nan_cur = _numeric(current, "current")
    res = stats.ks_2samp(ref, cur)
    p = float(res.pvalue)
    return TestResult(
        "ks", float(res.statistic), p, p < threshold, threshold,
        _nan_details(ref.size, cur.size, nan_ref, nan_cur),
    )  # fmt: skip


def cramer_von_mises(reference: object, current: object, *, threshold: float = 0.05) -> TestResult:
    """Two-sample Cramér-von Mises test, as ``scipy.stats.cramervonmises_2samp`` (method auto)."""
    stats = _scipy_stats()

    ref, nan_ref = _numeric(reference, "reference")
    cur, nan_cur = _numeric(current, "current")
    if ref.size < 2 or cur.size < 2:
        raise InvalidInput("cramer_von_mises needs at least 2 values in each sample")
    res = stats.cramervonmises_2samp(ref, cur)
    p = float(res.pvalue)
    return TestResult(
        "cramer_von_mises", float(res.statistic), p, p < threshold, threshold,
        _nan_details(ref.size, cur.size, nan_ref, nan_cur),
    )  # fmt: skip


def wasserstein(reference: object, current: object, *, threshold: float = 0.1) -> TestResult:
    """The 1-Wasserstein distance divided by the reference's standard deviation (ddof=0).

    The distance is ``scipy.stats.wasserstein_distance``. A constant reference
    gives 0 when the current sample equals it and ``inf`` otherwise.
    """
    stats = _scipy_stats()

    ref, nan_ref = _numeric(reference, "reference")
    cur, nan_cur = _numeric(current, "current")
    distance = float(stats.wasserstein_distance(ref, cur))
    std = float(np.std(ref))
    # A constant reference: no drift if the current sample is the same constant.
    statistic = distance / std if std > 0 else (0.0 if distance == 0 else float("inf"))
    details = _nan_details(ref.size, cur.size, nan_ref, nan_cur)
    details |= {"distance": distance, "reference_std": std}
    return TestResult("wasserstein", statistic, None, statistic > threshold, threshold, details)


def _is_numeric(array: np.ndarray[Any, Any]) -> bool:
    return array.dtype.kind in "iuf"


def _drop_missing(values: object) -> tuple[np.ndarray[Any, Any], int]:
    import pandas as pd

    array = np.asarray(values, dtype=object).ravel()
    missing = np.asarray(pd.isna(array), dtype=bool)
    return array[~missing], int(missing.sum())


def category_counts(reference: object, current: object) -> tuple[list[Any], FloatArray, FloatArray]:
    """Categories (sorted by their string form) and the aligned counts of each sample.

    Missing values (None, NaN) are dropped.
    """
    ref, _ = _drop_missing(reference)
    cur, _ = _drop_missing(current)
    cats: dict[Any, int] = {}
    for value in np.concatenate([ref.astype(object), cur.astype(object)]):
        cats.setdefault(value, 0)
    categories = sorted(cats, key=str)
    index = {c: i for i, c in enumerate(categories)}
    ref_counts = np.bincount([index[v] for v in ref.tolist()], minlength=len(categories))
    cur_counts = np.bincount([index[v] for v in cur.tolist()], minlength=len(categories))
    return categories, ref_counts.astype(np.float64), cur_counts.astype(np.float64)


def _psi_value(ref_counts: FloatArray, cur_counts: FloatArray) -> float:
    r = ref_counts / ref_counts.sum()
    c = cur_counts / cur_counts.sum()
    r = np.where(r == 0, PSI_EPSILON, r)
    c = np.where(c == 0, PSI_EPSILON, c)
    return float(np.sum((c - r) * np.log(c / r)))


def psi(
    reference: object, current: object, *, bins: int = 10, threshold: float = 0.2
) -> TestResult:
    """Population stability index, ``sum((c - r) * ln(c / r))`` over bins.

    Numeric input: ``bins`` bins at the reference's quantiles (repeated edges
    merged; values outside the reference range fall in the end bins).
    Other input: one bin per category. An empty bin's proportion is replaced
    by ``PSI_EPSILON`` (1e-4) before the logarithm.
    """
    if bins < 1:
        raise InvalidInput(f"bins must be >= 1, got {bins}", field="bins")
    ref_raw = np.asarray(reference).ravel()
    cur_raw = np.asarray(current).ravel()
    if _is_numeric(ref_raw) and _is_numeric(cur_raw):
        ref, nan_ref = _numeric(ref_raw, "reference")
        cur, nan_cur = _numeric(cur_raw, "current")
        edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1)))
        inner = edges[1:-1]
        n_bins = inner.size + 1
        ref_idx, cur_idx = (np.searchsorted(inner, x, side="right") for x in (ref, cur))
        ref_counts = np.bincount(ref_idx, minlength=n_bins).astype(np.float64)
        cur_counts = np.bincount(cur_idx, minlength=n_bins).astype(np.float64)
        details = _nan_details(ref.size, cur.size, nan_ref, nan_cur)
        details |= {"kind": "numeric", "edges": edges.tolist()}
    else:
        # From the inputs, not the arrays: np.asarray(["a", nan]) is a str array.
        ref_obj, nan_ref = _drop_missing(reference)
        cur_obj, nan_cur = _drop_missing(current)
        for arr, name in ((ref_obj, "reference"), (cur_obj, "current")):
            if arr.size == 0:
                raise InvalidInput(f"{name} is empty after dropping missing values", field=name)
        categories, ref_counts, cur_counts = category_counts(ref_obj, cur_obj)
        details = _nan_details(ref_obj.size, cur_obj.size, nan_ref, nan_cur)
        details |= {"kind": "categorical", "categories": categories}
    statistic = _psi_value(ref_counts, cur_counts)
    return TestResult("psi", statistic, None, statistic > threshold, threshold, details)


def _contingency(
    reference_counts: object, current_counts: object, lambda_: str, name: str, threshold: float
) -> TestResult:
    stats = _scipy_stats()

    ref, cur = _aligned(reference_counts, current_counts)
    table = np.vstack([ref, cur])
    used = table.sum(axis=0) > 0  # a category absent from both samples carries no information
    table = table[:, used]
    details: dict[str, Any] = {"categories_used": int(used.sum()), "n_reference": ref.sum()}
    details["n_current"] = cur.sum()
    if table.shape[1] < 2:
        return TestResult(name, 0.0, 1.0, False, threshold, details | {"dof": 0})
    res = stats.chi2_contingency(table, correction=False, lambda_=lambda_)
    p = float(res.pvalue)
    details |= {"dof": int(res.dof), "min_expected": float(res.expected_freq.min())}
    return TestResult(name, float(res.statistic), p, p < threshold, threshold, details)


def chi_square(
    reference_counts: object, current_counts: object, *, threshold: float = 0.05
) -> TestResult:
    """Pearson chi-square test of the 2 x k contingency table (reference, current).

    Both samples are random: this is the two-sample test of homogeneity, not a
    goodness-of-fit test against the reference's proportions. It equals
    ``scipy.stats.chi2_contingency(table, correction=False)``; SciPy's default
    would apply Yates' correction when k = 2, we never do.
    """
    return _contingency(reference_counts, current_counts, "pearson", "chi_square", threshold)


def g_test(
    reference_counts: object, current_counts: object, *, threshold: float = 0.05
) -> TestResult:
    """Log-likelihood-ratio (G) test of the 2 x k table, no Yates correction.

    Equals ``scipy.stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")``.
    """
    return _contingency(reference_counts, current_counts, "log-likelihood", "g_test", threshold)


def _kl_terms(p: FloatArray, m: FloatArray) -> float:
    """``sum p log(p / m)`` with ``0 log 0 = 0``."""
    used = p > 0
    return float(np.sum(p[used] * np.log(p[used] / m[used])))


def jensen_shannon(
    reference_counts: object, current_counts: object, *, threshold: float = 0.1
) -> TestResult:
    """Jensen-Shannon distance (base 2, in [0, 1]) between the two proportion vectors.

    Equals ``scipy.spatial.distance.jensenshannon(ref, cur, base=2)``, computed
    here because importing ``scipy.spatial`` costs more than half a second.
    """
    ref, cur = _aligned(reference_counts, current_counts)
    p, q = ref / ref.sum(), cur / cur.sum()
    m = (p + q) / 2
    divergence = 0.5 * (_kl_terms(p, m) + _kl_terms(q, m)) / np.log(2)
    statistic = float(np.sqrt(max(divergence, 0.0)))
    details = {"n_reference": ref.sum(), "n_current": cur.sum()}
    return TestResult("jensen_shannon", statistic, None, statistic > threshold, threshold, details)


def choose_test(
    kind: Literal["numeric", "categorical"],
    n_reference: int,
    n_current: int,
    *,
    n_categories: int | None = None,
) -> str:
    """The test to use by default, by name.

    * numeric: ``"ks"`` when ``n_reference <= 1000``, else ``"wasserstein"``
      (with many rows every p-value test flags negligible shifts);
    * categorical: ``"chi_square"`` when ``n_reference <= 1000`` and, if
      ``n_categories`` is given, ``min(n_reference, n_current) >= 5 *
      n_categories`` (a mean expected count of at least 5 per cell); else
      ``"jensen_shannon"``.
    """
    if n_reference < 1 or n_current < 1:
        raise InvalidInput(
            f"sample sizes must be >= 1, got n_reference={n_reference}, n_current={n_current}"
        )
    if kind == "numeric":
        return "ks" if n_reference <= LARGE_SAMPLE else "wasserstein"
    if kind == "categorical":
        small = n_reference <= LARGE_SAMPLE
        enough = n_categories is None or min(n_reference, n_current) >= MIN_EXPECTED * n_categories
        return "chi_square" if small and enough else "jensen_shannon"
    raise InvalidInput(f"kind must be 'numeric' or 'categorical', got {kind!r}", field="kind")


def correct(
    p_values: Sequence[float] | FloatArray,
    method: Literal["bonferroni", "holm", "fdr_bh"] = "holm",
) -> FloatArray:
    """Adjusted p-values, in the input's order, each capped at 1.

    ``bonferroni``: ``m p``; ``holm``: step-down ``max_{j<=i} (m - j + 1) p_(j)``;
    ``fdr_bh``: Benjamini-Hochberg step-up ``min_{j>=i} m p_(j) / j``.
    """
    p = np.asarray(p_values, dtype=np.float64).ravel()
    if p.size == 0:
        raise InvalidInput("p_values is empty", field="p_values")
    if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise InvalidInput(f"p_values must lie in [0, 1], got {p!r}", field="p_values")
    m = p.size
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    rank = np.arange(1, m + 1)
    if method == "holm":
        adjusted = np.maximum.accumulate((m - rank + 1) * ranked)
    elif method == "fdr_bh":
        adjusted = np.minimum.accumulate((m * ranked / rank)[::-1])[::-1]
    else:
        raise InvalidInput(
            f"method must be 'bonferroni', 'holm' or 'fdr_bh', got {method!r}", field="method"
        )
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out
