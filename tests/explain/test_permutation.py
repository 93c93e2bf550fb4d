"""Permutation importance against scikit-learn's, a closed form, and bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from kiln.errors import InvalidInput
from kiln.explain import Importance, permutation_importance


def frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, 4)), columns=["signal", "weak", "noise", "other"])


@pytest.fixture(scope="module")
def classifier() -> tuple[Any, pd.DataFrame, pd.Series]:
    from sklearn.linear_model import LogisticRegression

    x = frame()
    y = (x["signal"] + 0.4 * x["weak"] + 0.2 * x["other"] > 0).astype("int64")
    return LogisticRegression().fit(x, y), x, y


def test_matches_scikit_learn_within_sampling_error(classifier: Any) -> None:
    from sklearn.inspection import permutation_importance as reference

    model, x, y = classifier
    ours = permutation_importance(model, x, y, n_repeats=40, seed=1)
    theirs = reference(model, x, y, n_repeats=40, random_state=1)

    assert ours.metric == "accuracy"
    assert ours.baseline == pytest.approx(model.score(x, y))
    expected = dict(zip(x.columns, theirs.importances_mean, strict=True))
    spread = dict(zip(x.columns, theirs.importances_std, strict=True))
    for name, mean, std in zip(ours.features, ours.mean, ours.std, strict=True):
        tolerance = 4 * np.hypot(std, spread[name]) / np.sqrt(40) + 1e-3
        assert mean == pytest.approx(expected[name], abs=tolerance), name
    assert ours.features[:2] == tuple(sorted(x.columns, key=lambda c: -expected[c])[:2])


def test_informative_first_noise_near_zero_sorted_descending(classifier: Any) -> None:
    model, x, y = classifier

    result = permutation_importance(model, x, y, n_repeats=10)

    assert result.features[:2] == ("signal", "weak")
    assert result.to_dict()["noise"] == pytest.approx(0.0, abs=0.01)
    assert result.to_dict()["signal"] > 0.3
    assert np.all(np.diff(result.mean) <= 0)
    assert result.values is not None
    assert result.values.shape == (10, 4)
    np.testing.assert_allclose(result.values.mean(axis=0), result.mean)
    np.testing.assert_allclose(result.values.std(axis=0), result.std)
    table = result.to_frame()
    assert list(table.index) == list(result.features)
    assert list(table.columns) == ["mean", "std"]


def test_r2_drop_matches_its_closed_form() -> None:
    """Shuffling x_j in y = X w (no noise) drops R² by 2 w_j² var(x_j) / var(y), in expectation."""
    x = frame(rows=4000, seed=3)
    weights = np.array([3.0, 1.0, 0.0, -2.0])
    y = x.to_numpy() @ weights

    result = permutation_importance(lambda rows: rows.to_numpy() @ weights, x, y, n_repeats=8)

    assert result.metric == "r2"
    assert result.baseline == pytest.approx(1.0)
    expected = 2 * weights**2 * x.to_numpy().var(axis=0) / y.var()
    got = result.to_dict()
    for name, value in zip(x.columns, expected, strict=True):
        assert got[name] == pytest.approx(value, rel=0.06, abs=1e-12), name


def test_every_input_form_gives_the_same_numbers(classifier: Any) -> None:
    model, x, y = classifier
    array = x.to_numpy()
    names = list(x.columns)

    from_frame = permutation_importance(model, x, y, n_repeats=3, seed=7)
    from_array = permutation_importance(
        lambda rows: model.predict(pd.DataFrame(rows, columns=names)),
        array,
        y.to_numpy(),
        n_repeats=3,
        seed=7,
        columns=names,
    )
    from_mapping = permutation_importance(
        lambda rows: model.predict(pd.DataFrame(rows)),
        {name: x[name].to_numpy() for name in names},
        y.tolist(),
        n_repeats=3,
        seed=7,
    )

    for other in (from_array, from_mapping):
        assert other.features == from_frame.features
        np.testing.assert_array_equal(other.mean, from_frame.mean)


def test_one_predict_call_per_column_and_categories_survive() -> None:
    x = pd.DataFrame(
        {
            "colour": pd.Categorical(["red", "blue", "red", "green"] * 25),
            "size": np.arange(100.0),
        }
    )
    y = (x["colour"] == "red").to_numpy()
    calls: list[int] = []

    def predict(rows: pd.DataFrame) -> Any:
        assert isinstance(rows["colour"].dtype, pd.CategoricalDtype)
        calls.append(len(rows))
        return (rows["colour"] == "red").to_numpy()

    result = permutation_importance(predict, x, y, n_repeats=6)

    assert calls == [100, 600, 600]
    assert result.metric == "accuracy"
    assert result.features[0] == "colour"
    assert result.to_dict()["size"] == 0.0


def test_many_repeats_are_split_over_several_calls(
    monkeypatch: pytest.MonkeyPatch, classifier: Any
) -> None:
    from kiln.explain import _permutation

    model, x, y = classifier
    calls: list[int] = []

    def predict(rows: pd.DataFrame) -> Any:
        calls.append(len(rows))
        return model.predict(rows)

    monkeypatch.setattr(_permutation, "MAX_STACKED_ROWS", 2 * len(x))
    result = permutation_importance(predict, x, y, n_repeats=5)

    # The baseline, then groups of 2, 2 and 1 repeats, one call per column in each.
    assert calls == [600] + [1200] * 4 + [1200] * 4 + [600] * 4
    assert result.values is not None
    assert result.values.shape == (5, 4)
    assert result.features[0] == "signal"
    assert result.to_dict()["noise"] == pytest.approx(0.0, abs=0.01)


def test_a_callable_metric_is_used_as_given(classifier: Any) -> None:
    model, x, y = classifier

    def log_loss_negated(y_true: Any, proba: Any) -> float:
        return -float(np.mean(-np.log(np.where(y_true == 1, proba[:, 1], proba[:, 0]))))

    result = permutation_importance(model.predict_proba, x, y, metric=log_loss_negated, n_repeats=2)

    assert result.metric == "log_loss_negated"
    assert result.features[0] == "signal"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"y": [0, 1]}, "y"),
        ({"n_repeats": 0}, "n_repeats"),
        ({"n_repeats": True}, "n_repeats"),
        ({"metric": "f1"}, "metric"),
        ({"columns": ["a", "b", "c", "d"]}, "columns"),
        ({"X": np.zeros(5)}, "X"),
        ({"X": pd.DataFrame({"a": []}), "y": []}, "X"),
        ({"predict": 3}, "predict"),
        ({"y": np.ones(600), "metric": "r2"}, "y"),
        ({"predict": lambda rows: np.zeros((len(rows), 2))}, "metric"),
        ({"predict": lambda rows: np.zeros(3)}, "predict"),
    ],
)
def test_bad_input_names_the_argument(classifier: Any, kwargs: dict[str, Any], field: str) -> None:
    model, x, y = classifier
    arguments: dict[str, Any] = {"predict": model, "X": x, "y": y} | kwargs

    with pytest.raises(InvalidInput) as error:
        permutation_importance(
            arguments.pop("predict"), arguments.pop("X"), arguments.pop("y"), **arguments
        )

    assert error.value.field == field
    assert error.value.message


def test_an_array_needs_one_name_per_column(classifier: Any) -> None:
    model, x, y = classifier

    with pytest.raises(InvalidInput, match="4 names") as error:
        permutation_importance(model.predict, x.to_numpy(), y, columns=["a"])

    assert error.value.field == "columns"
    assert isinstance(permutation_importance(model, x, y, n_repeats=1), Importance)
