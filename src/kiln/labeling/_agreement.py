"""Agreement between annotators: chance-corrected coefficients and the consensus label.

Three coefficients, each ``1 - observed disagreement / disagreement expected by
chance``, so 1 is perfect agreement, 0 is what chance alone gives and below 0 is
systematic disagreement:

- :func:`cohen_kappa` — two raters who both labelled every item (optionally
  weighted, for ordered categories);
- :func:`fleiss_kappa` — any number of raters, the same number per item, given
  as an items-by-categories table of counts (:func:`rating_counts` builds it);
- :func:`krippendorff_alpha` — any number of raters with missing values, for
  nominal, ordinal, interval or ratio data.

A coefficient is ``nan`` when chance agreement is already perfect (everyone
used one category), where it is undefined. :func:`consensus` and
:func:`consensus_multilabel` turn one item's labels into the label a project
records; :func:`annotator_stats` measures each annotator against gold answers
and against the others. docs/labeling-quality.md gives the formulas.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from kiln.errors import InvalidInput

__all__ = [
    "AnnotatorStats",
    "annotator_stats",
    "cohen_kappa",
    "consensus",
    "consensus_multilabel",
    "fleiss_kappa",
    "krippendorff_alpha",
    "rating_counts",
]

L = TypeVar("L", bound=Hashable)
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")


def _codes(
    values: Sequence[Hashable], index: dict[Hashable, int], field: str, listing: str = "labels="
) -> IntArray:
    """``values`` as positions in ``index``; a value it lacks is refused, not dropped."""
    try:
        return np.fromiter((index[value] for value in values), dtype=np.int64, count=len(values))
    except KeyError as exc:
        raise InvalidInput(
            f"{field} holds {exc.args[0]!r}, which {listing} does not list; add it", field=field
        ) from None
    except TypeError as exc:
        raise InvalidInput(
            f"{field} must be one hashable label per item ({exc})", field=field
        ) from None


def _index(categories: Sequence[Hashable], field: str) -> dict[Hashable, int]:
    index = {category: i for i, category in enumerate(categories)}
    if len(index) != len(categories):
        raise InvalidInput(f"{field} lists a category twice; list each once", field=field)
    return index


def _as_list(values: Any) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def cohen_kappa(
    a: Sequence[Hashable] | npt.ArrayLike,
    b: Sequence[Hashable] | npt.ArrayLike,
    *,
    labels: Sequence[Hashable] | None = None,
    weights: Literal["linear", "quadratic"] | None = None,
) -> float:
    """Cohen's kappa between two raters' labels of the same items.

    ``(p_o - p_e) / (1 - p_e)``: observed agreement against the agreement
    expected if each rater labelled at random with their own label frequencies.
    With ``weights`` a disagreement costs ``|i - j|`` (linear) or ``(i - j)²``
    (quadratic) steps on the scale given by ``labels`` (default: sorted), so
    near misses on ordered categories count less. Equals
    ``sklearn.metrics.cohen_kappa_score``, except that a label missing from
    ``labels`` is refused rather than its item silently dropped.
    """
    if weights not in (None, "linear", "quadratic"):
        raise InvalidInput(
            f"weights must be None, 'linear' or 'quadratic', not {weights!r}", field="weights"
        )
    first, second = _as_list(a), _as_list(b)
    if len(first) != len(second) or not first:
        raise InvalidInput(
            f"a and b must label the same items, at least one: got {len(first)} and {len(second)}",
            field="b",
        )
    if None in first or None in second:
        raise InvalidInput(
            "a and b hold None; drop items a rater skipped, or use krippendorff_alpha", field="a"
        )
    try:
        cats = _in_order(set(first) | set(second)) if labels is None else list(labels)
    except TypeError as exc:
        raise InvalidInput(
            f"a and b must be one hashable label per item ({exc})", field="a"
        ) from None
    index = _index(cats, "labels")
    code_a, code_b = _codes(first, index, "a"), _codes(second, index, "b")
    m = len(cats)
    observed = np.bincount(code_a * m + code_b, minlength=m * m).reshape(m, m).astype(np.float64)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / len(first)
    steps = np.arange(m, dtype=np.float64)
    if weights is None:
        cost = 1.0 - np.eye(m)
    elif weights == "linear":
        cost = np.abs(steps[:, None] - steps[None, :])
    else:
        cost = (steps[:, None] - steps[None, :]) ** 2
    chance = float((cost * expected).sum())
    if chance == 0.0:
        return float("nan")
    return 1.0 - float((cost * observed).sum()) / chance


def fleiss_kappa(counts: npt.ArrayLike) -> float:
    """Fleiss' kappa from an items-by-categories table of how many raters chose each.

    Every item must have the same number ``n ≥ 2`` of ratings (the raters need
    not be the same people). ``P̄`` is the mean share of agreeing rater pairs
    per item, ``P_e = Σ p_j²`` the same share expected from the overall category
    proportions ``p_j``; kappa is ``(P̄ - P_e) / (1 - P_e)``.
    """
    try:
        table = np.asarray(counts, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"counts must be a table of numbers ({exc})", field="counts") from exc
    if table.ndim != 2 or table.shape[0] == 0 or table.shape[1] == 0:
        raise InvalidInput(
            f"counts must be items-by-categories, at least one of each; got shape {table.shape}",
            field="counts",
        )
    if not np.all(np.isfinite(table)) or np.any(table < 0) or np.any(table != np.round(table)):
        raise InvalidInput("counts must be non-negative whole numbers of raters", field="counts")
    raters = table.sum(axis=1)
    n = raters[0]
    if np.any(raters != n):
        bad = int(np.flatnonzero(raters != n)[0])
        raise InvalidInput(
            f"Fleiss' kappa needs the same number of ratings per item: item 0 has {n:g}, "
            f"item {bad} has {raters[bad]:g}; drop or complete the uneven items, "
            "or use krippendorff_alpha, which allows missing ratings",
            field="counts",
        )
    if n < 2:
        raise InvalidInput(
            f"each item needs at least two ratings, got {n:g}; agreement needs two raters",
            field="counts",
        )
    items = table.shape[0]
    per_item = ((table * table).sum(axis=1) - n) / (n * (n - 1))
    shares = table.sum(axis=0) / (items * n)
    chance = float((shares * shares).sum())
    if chance == 1.0:
        return float("nan")
    return (float(per_item.mean()) - chance) / (1.0 - chance)


def rating_counts(
    labels_per_item: Sequence[Sequence[Hashable]],
    *,
    categories: Sequence[Hashable] | None = None,
) -> tuple[IntArray, list[Hashable]]:
    """The items-by-categories table :func:`fleiss_kappa` takes, from each item's labels.

    Returns ``(counts, categories)``. Categories are sorted unless given (give
    them to fix the columns, e.g. to keep one nobody chose); a ``None`` label
    is a skipped rating and is not counted.
    """
    items = [[label for label in labels if label is not None] for labels in labels_per_item]
    if not items:
        raise InvalidInput(
            "labels_per_item is empty; give at least one item", field="labels_per_item"
        )
    flat = [label for labels in items for label in labels]
    cats = _in_order(set(flat)) if categories is None else list(categories)
    codes = _codes(flat, _index(cats, "categories"), "labels_per_item", "categories")
    rows = np.repeat(np.arange(len(items)), [len(labels) for labels in items])
    m = len(cats)
    table = np.bincount(rows * m + codes, minlength=len(items) * m).reshape(len(items), m)
    return table.astype(np.int64), cats


def _in_order(labels: Collection[L]) -> list[L]:
    """Labels sorted when they sort, else by type name and text: one order whatever came first."""
    try:
        return sorted(labels)  # type: ignore[type-var]
    except TypeError:
        return sorted(labels, key=lambda label: (type(label).__name__, repr(label)))


def krippendorff_alpha(
    reliability_data: Sequence[Sequence[Any]] | npt.ArrayLike,
    *,
    level: Level = "nominal",
    value_domain: Sequence[Hashable] | None = None,
) -> float:
    """Krippendorff's alpha over a raters-by-units table with missing values.

    ``None`` or NaN marks a value a rater did not give. Units with fewer than
    two values cannot be paired and are left out. From the coincidence matrix
    ``o`` (each unit's ordered pairs of values, weighted ``1 / (m_u - 1)``),
    alpha is ``1 - (n - 1) Σ o_ck δ²_ck / Σ n_c n_k δ²_ck``, with the distance
    ``δ²`` of the ``level``: nominal (0 or 1), ordinal (how many values lie
    between, by rank), interval (``(c - k)²``) or ratio (``((c - k)/(c + k))²``).
    ``value_domain`` gives the order of non-numeric ordinal values.
    """
    if level not in LEVELS:
        raise InvalidInput(
            f"level must be one of {', '.join(LEVELS)}, not {level!r}", field="level"
        )
    domain, codes = _reliability_codes(reliability_data, level, value_domain)
    units = codes.shape[1]
    v = len(domain)
    present = codes >= 0
    unit_of = np.broadcast_to(np.arange(units), codes.shape)[present]
    per_unit = np.bincount(unit_of * v + codes[present], minlength=units * v).reshape(units, v)
    pairable = per_unit.sum(axis=1)
    per_unit = per_unit[pairable >= 2].astype(np.float64)
    share = 1.0 / (pairable[pairable >= 2] - 1.0)
    if per_unit.shape[0] == 0:
        raise InvalidInput(
            "no unit has values from two or more raters, so nothing can be compared; "
            "give each unit at least two ratings",
            field="reliability_data",
        )
    weighted = per_unit * share[:, None]
    coincidence = weighted.T @ per_unit - np.diag(weighted.sum(axis=0))
    totals = coincidence.sum(axis=0)
    delta = _distances(level, domain, totals)
    n = totals.sum()
    chance = float((np.outer(totals, totals) * delta).sum())
    if chance == 0.0:
        return float("nan")
    return 1.0 - (float(n) - 1.0) * float((coincidence * delta).sum()) / chance


def _reliability_codes(
    data: Any, level: str, value_domain: Sequence[Hashable] | None
) -> tuple[Any, IntArray]:
    """Return (ordered domain, raters-by-units codes with -1 where missing)."""
    try:
        numeric: FloatArray | None = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        numeric = None
    if level in ("interval", "ratio") and (numeric is None or value_domain is not None):
        raise InvalidInput(
            f"level={level!r} takes numbers (None or NaN where missing) and no value_domain; "
            "use 'nominal', or 'ordinal' with value_domain, for other labels",
            field="level",
        )
    if numeric is not None and value_domain is None:
        return _numeric_codes(numeric)
    if value_domain is None and level == "ordinal":
        raise InvalidInput(
            "ordinal alpha over non-numeric values needs value_domain= (the values in order)",
            field="value_domain",
        )
    rows = [_as_list(row) for row in data]
    if not rows or len({len(row) for row in rows}) != 1:
        raise InvalidInput(
            "reliability_data must be raters-by-units: one row per rater, all of one length",
            field="reliability_data",
        )
    flat = [None if value is None or value != value else value for row in rows for value in row]
    present = {value for value in flat if value is not None}
    domain = _in_order(present) if value_domain is None else list(value_domain)
    index = _index(domain, "value_domain") | {None: -1}
    codes = _codes(flat, index, "reliability_data", "value_domain")
    return np.asarray(domain, dtype=object), codes.reshape(len(rows), len(rows[0]))


def _numeric_codes(numeric: FloatArray) -> tuple[FloatArray, IntArray]:
    if numeric.ndim != 2:
        raise InvalidInput(
            f"reliability_data must be raters-by-units, got shape {numeric.shape}",
            field="reliability_data",
        )
    if np.any(np.isinf(numeric)):
        raise InvalidInput(
            "reliability_data holds an infinite value; use None or NaN for a missing one",
            field="reliability_data",
        )
    present = ~np.isnan(numeric)
    domain, inverse = np.unique(numeric[present], return_inverse=True)
    codes = np.full(numeric.shape, -1, dtype=np.int64)
    codes[present] = inverse
    return domain, codes


def _distances(level: str, domain: Any, totals: FloatArray) -> FloatArray:
    """The squared distance δ² between every two values of the domain."""
    v = len(domain)
    if level == "nominal":
        return 1.0 - np.eye(v)
    if level == "ordinal":
        # Between values of rank c ≤ k: n_c/2 + n_(c+1) + ... + n_(k-1) + n_k/2.
        cumulative = np.concatenate([[0.0], np.cumsum(totals)])
        rank = np.arange(v)
        low = np.minimum(rank[:, None], rank[None, :])
        high = np.maximum(rank[:, None], rank[None, :])
        between: FloatArray = (
            cumulative[high + 1] - cumulative[low] - (totals[low] + totals[high]) / 2.0
        )
        return between**2
    values = np.asarray(domain, dtype=np.float64)
    difference = values[:, None] - values[None, :]
    if level == "interval":
        return difference**2
    summed = values[:, None] + values[None, :]
    ratio = np.divide(difference, summed, out=np.zeros_like(difference), where=summed != 0)
    return ratio**2


def _check_weights(weights: Sequence[float] | None, count: int) -> FloatArray:
    if weights is None:
        return np.ones(count)
    array = np.asarray(weights, dtype=np.float64)
    if array.shape != (count,):
        raise InvalidInput(
            f"weights must give one weight per label: {count} labels, {array.size} weights",
            field="weights",
        )
    if not np.all(np.isfinite(array)) or np.any(array < 0) or array.sum() <= 0:
        raise InvalidInput("weights must be finite, non-negative and not all zero", field="weights")
    return array


def consensus(labels: Sequence[L], *, weights: Sequence[float] | None = None) -> tuple[L, float]:
    """One item's consensus label by (weighted) majority, and its share of the vote.

    ``weights`` are per label, e.g. each annotator's gold accuracy. A tie goes
    to the tied label that sorts first (labels that do not sort together are
    ordered by type name, then text), so the result never depends on the
    order the annotations arrived in.
    """
    if len(labels) == 0:
        raise InvalidInput("labels is empty; an item needs at least one label", field="labels")
    weight = _check_weights(weights, len(labels))
    votes: dict[L, float] = {}
    for label, w in zip(labels, weight.tolist(), strict=True):
        votes[label] = votes.get(label, 0.0) + w
    top = max(votes.values())
    winner = _in_order([label for label, w in votes.items() if w == top])[0]
    return winner, top / float(weight.sum())


def consensus_multilabel(
    label_sets: Sequence[Collection[L]], *, weights: Sequence[float] | None = None
) -> tuple[frozenset[L], dict[L, float]]:
    """One item's consensus set of labels: each label kept by a strict (weighted) majority.

    Returns the set and every label's share of the vote; a label chosen by
    exactly half is left out (no majority), so the result never depends on
    order.
    """
    if len(label_sets) == 0:
        raise InvalidInput(
            "label_sets is empty; an item needs at least one annotation", field="label_sets"
        )
    weight = _check_weights(weights, len(label_sets))
    total = float(weight.sum())
    votes: dict[L, float] = {}
    for labels, w in zip(label_sets, weight.tolist(), strict=True):
        for label in set(labels):
            votes[label] = votes.get(label, 0.0) + w
    shares = {label: v / total for label, v in votes.items()}
    return frozenset(label for label, share in shares.items() if share > 0.5), shares


@dataclass(frozen=True)
class AnnotatorStats:
    """How one annotator did.

    ``consensus_agreement`` counts the annotator's own vote in the consensus,
    so with two annotators per item it is optimistic; ``pairwise_agreement``
    (the share of their pairings with other annotators of the same item that
    agree) is the unbiased companion. Each is None when there was nothing to
    measure.
    """

    annotator: Hashable
    count: int
    gold_count: int
    gold_accuracy: float | None
    shared_count: int
    consensus_agreement: float | None
    pairwise_agreement: float | None


def annotator_stats(
    annotations: Mapping[Hashable, Mapping[Hashable, Hashable]],
    *,
    gold: Mapping[Hashable, Hashable] | None = None,
    weights: Mapping[Hashable, float] | None = None,
) -> dict[Hashable, AnnotatorStats]:
    """Per-annotator counts, accuracy on gold items and agreement with the others.

    ``annotations`` maps item → annotator → label; ``gold`` maps gold items to
    their known answer; ``weights`` (annotator → weight, 1 for one not listed)
    weight the consensus. "Shared" items are those someone else also labelled.
    """
    gold = gold or {}
    tally: dict[Hashable, Counter[str]] = defaultdict(Counter)
    for item, by_annotator in annotations.items():
        shared = len(by_annotator) > 1
        if shared:
            item_weights = None if weights is None else [weights.get(p, 1.0) for p in by_annotator]
            winner, _ = consensus(list(by_annotator.values()), weights=item_weights)
        for person, label in by_annotator.items():
            counts = tally[person]
            counts["count"] += 1
            if item in gold:
                counts["gold"] += 1
                counts["gold_right"] += label == gold[item]
            if shared:
                others = [other for p, other in by_annotator.items() if p != person]
                counts["shared"] += 1
                counts["consensus"] += label == winner
                counts["pairs"] += len(others)
                counts["agree"] += sum(label == other for other in others)
    return {
        person: AnnotatorStats(
            annotator=person,
            count=counts["count"],
            gold_count=counts["gold"],
            gold_accuracy=_share(counts["gold_right"], counts["gold"]),
            shared_count=counts["shared"],
            consensus_agreement=_share(counts["consensus"], counts["shared"]),
            pairwise_agreement=_share(counts["agree"], counts["pairs"]),
        )
        for person, counts in tally.items()
    }


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None
