"""Performance metrics of kiln.monitoring._performance against scikit-learn and worked examples."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from kiln.errors import InvalidInput
from kiln.monitoring._performance import (
    CALIBRATION_BINS,
    ClassificationMetrics,
    classification_metrics,
    regression_metrics,
)
from kiln.monitoring._performance_windows import metrics_over_time

skm = pytest.importorskip("sklearn.metrics")
calibration = pytest.importorskip("sklearn.calibration")

TOL = 1e-12


def _binary(seed: int, n: int, *, decimals: int | None = None):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    p = np.clip(0.35 * y + rng.uniform(0, 0.65, size=n), 0, 1)
    if decimals is not None:
        p = np.round(p, decimals)  # many ties
    return y, (p > 0.5).astype(int), p


def _ece_reference(y: np.ndarray, p: np.ndarray) -> float:
    """The definition, bin by bin: bins (k/10, (k+1)/10], the first also holding 0."""
    total = 0.0
    for k in range(10):
        lower, upper = k / 10, (k + 1) / 10
        inside = (p > lower) & (p <= upper) if k else (p >= 0) & (p <= upper)
        if inside.any():
            total += inside.sum() / p.size * abs(y[inside].mean() - p[inside].mean())
    return total


@pytest.mark.parametrize(("seed", "n", "decimals"), [(1, 7, None), (2, 200, 1), (3, 5000, 2)])
def test_binary_matches_sklearn(seed: int, n: int, decimals: int | None) -> None:
    y, yhat, p = _binary(seed, n, decimals=decimals)
    m = classification_metrics(y, yhat, y_score=p)
    assert m.kind == "binary"
    assert m.positive == 1
    assert m.labels == (0, 1)
    assert m.accuracy == pytest.approx(skm.accuracy_score(y, yhat), abs=TOL)
    assert m.precision == pytest.approx(skm.precision_score(y, yhat, zero_division=0), abs=TOL)
    assert m.recall == pytest.approx(skm.recall_score(y, yhat, zero_division=0), abs=TOL)
    assert m.f1 == pytest.approx(skm.f1_score(y, yhat, zero_division=0), abs=TOL)
    assert m.roc_auc == pytest.approx(skm.roc_auc_score(y, p), abs=TOL)
    assert m.brier == pytest.approx(skm.brier_score_loss(y, p), abs=TOL)
    assert m.ece == pytest.approx(_ece_reference(y, p), abs=TOL)
    assert m.reliability is not None
    assert len(m.reliability) == CALIBRATION_BINS
    frac, mean_pred = calibration.calibration_curve(y, p, n_bins=10, strategy="uniform")
    filled = [b for b in m.reliability if b.count > 0]
    assert [b.fraction_positive for b in filled] == pytest.approx(frac, abs=TOL)
    assert [b.mean_predicted for b in filled] == pytest.approx(mean_pred, abs=TOL)
    assert sum(b.count for b in m.reliability) == n
    assert all(b.mean_predicted is None for b in m.reliability if b.count == 0)


def test_bin_edges_are_right_closed() -> None:
    m = classification_metrics([0, 1, 1], [0, 1, 1], y_score=[0.0, 0.1, 1.0])
    assert m.reliability is not None
    assert [b.count for b in m.reliability] == [2, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert (m.reliability[0].lower, m.reliability[0].upper) == (0.0, 0.1)


def test_worked_examples_from_sklearn_docs() -> None:
    # roc_auc_score and brier_score_loss examples of the scikit-learn user guide.
    auc = classification_metrics([0, 0, 1, 1], [0, 0, 0, 1], y_score=[0.1, 0.4, 0.35, 0.8])
    assert auc.roc_auc == pytest.approx(0.75, abs=TOL)
    brier = classification_metrics([0, 1, 1, 0], [0, 1, 1, 0], y_score=[0.1, 0.9, 0.8, 0.3])
    assert brier.brier == pytest.approx(0.0375, abs=TOL)
    # 3 TP, 1 FP, 2 FN, 2 TN: precision 3/4, recall 3/5, F1 2/3.
    m = classification_metrics([1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 0, 0, 1, 0, 0])
    assert (m.precision, m.recall, m.f1, m.accuracy) == pytest.approx((0.75, 0.6, 2 / 3, 0.625))
    assert m.per_class[0].support == 3
    assert m.per_class[1].support == 5


def test_text_labels_need_positive() -> None:
    y = np.array(["no", "yes", "yes", "no", "yes"])
    yhat = np.array(["no", "yes", "no", "no", "no"])
    with pytest.raises(InvalidInput, match="positive=") as err:
        classification_metrics(y, yhat)
    assert err.value.field == "positive"
    m = classification_metrics(y, yhat, positive="yes")
    assert m.recall == pytest.approx(skm.recall_score(y, yhat, pos_label="yes"), abs=TOL)
    assert m.precision == pytest.approx(skm.precision_score(y, yhat, pos_label="yes"), abs=TOL)
    with pytest.raises(InvalidInput, match="not one of the labels"):
        classification_metrics(y, yhat, positive="maybe")


def test_bool_labels_and_a_single_class() -> None:
    m = classification_metrics([True, False, True], [True, True, True], y_score=[0.9, 0.6, 0.7])
    assert m.positive is True
    assert m.precision == pytest.approx(2 / 3)
    only_ones = classification_metrics([1, 1, 1], [1, 0, 1], y_score=[0.9, 0.2, 0.8])
    assert only_ones.roc_auc is None
    assert only_ones.labels == (0, 1)
    assert only_ones.recall == pytest.approx(2 / 3)
    only_zeros = classification_metrics([0, 0], [0, 0])
    assert only_zeros.labels == (0, 1)
    assert (only_zeros.precision, only_zeros.recall, only_zeros.f1) == (0.0, 0.0, 0.0)
    assert only_zeros.accuracy == 1.0
    lone_text = classification_metrics(["a", "a"], ["a", "a"], positive="b")
    assert lone_text.labels == ("a", "b")


def _multiclass(seed: int, n: int, k: int):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba.argmax(axis=1), proba


@pytest.mark.parametrize(("seed", "n", "k"), [(4, 60, 3), (5, 3000, 5)])
def test_multiclass_matches_sklearn(seed: int, n: int, k: int) -> None:
    y, yhat, proba = _multiclass(seed, n, k)
    m = classification_metrics(y, yhat, y_score=proba)
    assert m.kind == "multiclass"
    assert m.positive is None
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score)):
        macro = fn(y, yhat, average="macro", zero_division=0)
        assert getattr(m, name) == pytest.approx(macro, abs=TOL)
    assert m.f1 == pytest.approx(skm.f1_score(y, yhat, average="macro", zero_division=0), abs=TOL)
    per_class = skm.f1_score(y, yhat, average=None, zero_division=0)
    assert [m.per_class[c].f1 for c in range(k)] == pytest.approx(per_class, abs=TOL)
    expected = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro")
    assert m.roc_auc == pytest.approx(expected, abs=TOL)
    assert m.brier is None
    assert m.reliability is None


def test_multiclass_labels_fix_the_set_and_auc_averages_present_classes() -> None:
    y, yhat, proba = _multiclass(6, 300, 4)
    y = np.where(y == 3, 0, y)  # class 3 never true: its one-vs-rest AUC is undefined
    m = classification_metrics(y, yhat, y_score=proba, labels=[0, 1, 2, 3])
    present = [skm.roc_auc_score(y == c, proba[:, c]) for c in range(3)]
    assert m.roc_auc == pytest.approx(np.mean(present), abs=TOL)
    macro = skm.recall_score(y, yhat, labels=[0, 1, 2, 3], average="macro", zero_division=0)
    assert m.recall == pytest.approx(macro, abs=TOL)
    assert m.per_class[3].support == 0


def test_labels_in_given_order_map_score_columns() -> None:
    y = np.array(["b", "a", "c", "b", "a", "c"])
    proba = np.array([[0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.2, 0.2, 0.6]] * 2)  # columns a, b, c
    reordered = proba[:, [2, 0, 1]]  # columns c, a, b
    first = classification_metrics(y, y, y_score=proba)
    second = classification_metrics(y, y, y_score=reordered, labels=["c", "a", "b"])
    assert first.roc_auc == second.roc_auc == 1.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"y_true": [], "y_pred": []}, "y_true"),
        ({"y_true": [0, 1], "y_pred": [0]}, "y_pred"),
        ({"y_true": [0.0, np.nan], "y_pred": [0, 1]}, "y_true"),
        ({"y_true": np.array([0, None], dtype=object), "y_pred": [0, 1]}, "y_true"),
        ({"y_true": [0, 1], "y_pred": [0, 1], "y_score": [0.2, 1.3]}, "y_score"),
        ({"y_true": [0, 1], "y_pred": [0, 1], "y_score": [0.2, np.nan]}, "y_score"),
        ({"y_true": [0, 1], "y_pred": [0, 1], "y_score": [[0.8, 0.2], [0.1, 0.9]]}, "y_score"),
        ({"y_true": [0, 1, 2], "y_pred": [0, 1, 2], "y_score": [0.1, 0.2, 0.3]}, "y_score"),
        ({"y_true": [0, 1, 2], "y_pred": [0, 1, 2], "positive": 2}, "positive"),
        ({"y_true": [0, 1, 2], "y_pred": [0, 1, 2], "labels": [0, 1]}, "labels"),
        ({"y_true": [0, 1], "y_pred": [0, 1], "labels": [0, 1, 1]}, "labels"),
        ({"y_true": np.array([1, "a"], dtype=object), "y_pred": [1, 1]}, "y_pred"),
    ],
)
def test_classification_rejects_bad_input(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        classification_metrics(kwargs.pop("y_true"), kwargs.pop("y_pred"), **kwargs)
    assert err.value.field == field


def test_to_dict_is_plain_json() -> None:
    y, yhat, p = _binary(7, 50)
    m = classification_metrics(y, yhat, y_score=p)
    d = json.loads(json.dumps(m.to_dict(), allow_nan=False))
    assert d["per_class"]["1"]["support"] == int(y.sum())
    fields = {"lower", "upper", "count", "mean_predicted", "fraction_positive"}
    assert d["reliability"][0].keys() == fields
    assert classification_metrics([1], [1]).to_dict()["roc_auc"] is None
    assert isinstance(m, ClassificationMetrics)
    with pytest.raises(AttributeError):
        m.accuracy = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("seed", [8, 9])
def test_regression_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.normal(10, 3, size=400)
    pred = y + rng.normal(0.5, 1, size=400)
    m = regression_metrics(y, pred)
    assert m.n == 400
    assert m.mae == pytest.approx(skm.mean_absolute_error(y, pred), abs=TOL)
    assert m.rmse == pytest.approx(skm.root_mean_squared_error(y, pred), abs=TOL)
    assert m.r2 == pytest.approx(skm.r2_score(y, pred), abs=TOL)
    assert m.mean_error == pytest.approx(np.mean(pred - y), abs=TOL)


def test_regression_worked_example_and_constant_target() -> None:
    m = regression_metrics([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0])
    assert m.mae == pytest.approx(0.5)
    assert m.rmse == pytest.approx(np.sqrt(0.375))
    assert m.r2 == pytest.approx(0.9486081370449679)  # the r2_score docstring's example
    assert m.mean_error == pytest.approx(0.25)
    constant = regression_metrics([2.0, 2.0, 2.0], [2.0, 2.5, 1.0])
    assert constant.r2 is None
    assert constant.to_dict()["r2"] is None


@pytest.mark.parametrize(
    ("y_true", "y_pred", "field"),
    [
        ([], [], "y_true"),
        ([1.0, np.nan], [1.0, 2.0], "y_true"),
        ([1.0, 2.0], [1.0, np.inf], "y_pred"),
        ([1.0, 2.0], [1.0], "y_pred"),
        (["a", "b"], [1.0, 2.0], "y_true"),
    ],
)
def test_regression_rejects_bad_input(y_true: list, y_pred: list, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        regression_metrics(y_true, y_pred)
    assert err.value.field == field


def _hourly_log(seed: int, n: int):
    rng = np.random.default_rng(seed)
    base = np.datetime64("2024-03-01T00:00:00", "us")
    offsets = rng.integers(0, 6 * 3600 * 10**6, size=n)
    offsets = offsets[(offsets < 2 * 3600 * 10**6) | (offsets >= 3 * 3600 * 10**6)]  # hour 2 empty
    times = base + offsets.astype("timedelta64[us]")
    y, yhat, p = _binary(seed, offsets.size)
    return times, y, yhat, p


def test_windows_match_metrics_of_each_hour() -> None:
    times, y, yhat, p = _hourly_log(10, 3000)
    windows = metrics_over_time(times, y, yhat, y_score=p, every="1h")
    hours = pd.DatetimeIndex(times).floor("h")
    expected = sorted(set(hours))
    assert len(windows) == 5  # hour 2 has no rows and is not emitted
    assert [w.start for w in windows] == [h.tz_localize("UTC").to_pydatetime() for h in expected]
    for w, hour in zip(windows, expected, strict=True):
        rows = hours == hour
        direct = classification_metrics(y[rows], yhat[rows], y_score=p[rows])
        assert w.n == rows.sum() == w.metrics.n
        assert w.end - w.start == timedelta(hours=1)
        assert w.metrics == direct
    assert sum(w.n for w in windows) == y.size
    json.dumps([w.to_dict() for w in windows], allow_nan=False)


def test_windows_are_epoch_aligned_for_every_form() -> None:
    times = np.array(["1969-12-31T23:50", "1970-01-01T00:10", "1970-01-01T00:20"], "datetime64[m]")
    y, pred = [1.0, 2.0, 3.0], [1.0, 2.0, 2.0]
    for every in ("15min", timedelta(minutes=15), pd.Timedelta(minutes=15)):
        windows = metrics_over_time(times, y, pred, every=every, task="regression")
        starts = [w.start for w in windows]
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        assert starts == [epoch - timedelta(minutes=15), epoch, epoch + timedelta(minutes=15)]
    daily = metrics_over_time(times, y, pred, every="1d", task="regression")
    assert [w.n for w in daily] == [1, 2]
    assert daily[1].metrics.mae == pytest.approx(0.5)  # type: ignore[union-attr]


def test_aware_datetimes_in_several_zones() -> None:
    paris = timezone(timedelta(hours=1))
    times = [
        datetime(2024, 1, 1, 0, 30, tzinfo=UTC),
        datetime(2024, 1, 1, 1, 45, tzinfo=paris),  # 00:45 UTC
        datetime(2024, 1, 1, 1, 5, tzinfo=UTC),
    ]
    windows = metrics_over_time(times, [1, 0, 1], [1, 1, 1])
    assert [w.n for w in windows] == [2, 1]
    series = pd.Series(pd.DatetimeIndex(times, tz="UTC").tz_convert("Europe/Paris"))
    assert [w.n for w in metrics_over_time(series, [1, 0, 1], [1, 1, 1])] == [2, 1]


def test_windows_share_the_label_set() -> None:
    times = np.array(["2024-01-01T00:10", "2024-01-01T00:20", "2024-01-01T01:10"], "datetime64[s]")
    windows = metrics_over_time(times, ["no", "yes", "no"], ["no", "yes", "yes"], positive="yes")
    assert [w.metrics.labels for w in windows] == [("no", "yes"), ("no", "yes")]  # type: ignore[union-attr]
    assert windows[1].metrics.precision == 0.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"every": "hourly"}, "every"),
        ({"every": timedelta(0)}, "every"),
        ({"task": "ranking"}, "task"),
        ({"task": "regression", "y_score": [0.5, 0.5]}, "task"),
        ({"times": [datetime(2024, 1, 1), datetime(2024, 1, 2)]}, "times"),
        ({"times": [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2)]}, "times"),
        ({"times": [1, 2]}, "times"),
        ({"times": np.array(["2024-01-01", "NaT"], "datetime64[s]")}, "times"),
        ({"times": np.array(["2024-01-01"], "datetime64[s]")}, "times"),
        ({"times": pd.Series(pd.DatetimeIndex(["2024-01-01", None], tz="UTC"))}, "times"),
    ],
)
def test_metrics_over_time_rejects_bad_input(kwargs: dict, field: str) -> None:
    args = {"times": np.array(["2024-01-01", "2024-01-02"], "datetime64[s]")} | kwargs
    with pytest.raises(InvalidInput) as err:
        metrics_over_time(args.pop("times"), [1, 0], [1, 1], **args)
    assert err.value.field == field
