"""Model-agnostic Shapley values: against shap's exact explainer, a linear model's closed
form, efficiency, the sampling estimate's error bars, and bad input."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kiln.errors import InvalidInput
from kiln.explain import explain_rows


def interacting(a: Any) -> Any:
    """Three-way and max interactions: antithetic orders alone do not make sampling exact."""
    return a[:, 0] * a[:, 1] * a[:, 2] + np.maximum(a[:, 3], a[:, 4]) * a[:, 0] + a[:, 1]


@pytest.fixture(scope="module")
def data() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(5, 5)), rng.normal(size=(20, 5))


def by_definition(f: Any, x: Any, background: Any) -> Any:
    """Shapley values straight from the definition: the mean over all d! orders of each
    feature's marginal contribution, v(S) = mean over background rows b of f(x_S, b_rest)."""
    d = len(x)

    def v(subset: frozenset[int]) -> float:
        mixed = background.copy()
        for j in subset:
            mixed[:, j] = x[j]
        return float(f(mixed).mean())

    phi = np.zeros(d)
    orders = list(itertools.permutations(range(d)))
    for order in orders:
        before: frozenset[int] = frozenset()
        for j in order:
            phi[j] += v(before | {j}) - v(before)
            before = before | {j}
    return phi / len(orders)


def test_exact_equals_the_definition(data: tuple[Any, Any]) -> None:
    rows, background = data

    ours = explain_rows(interacting, rows, background=background)

    assert ours.method == "exact"
    reference = np.array([by_definition(interacting, row, background) for row in rows])
    np.testing.assert_allclose(ours.values, reference, atol=1e-12)
    np.testing.assert_allclose(ours.predictions, interacting(rows), atol=1e-12)
    np.testing.assert_allclose(ours.base_values, interacting(background).mean(), atol=1e-12)
    np.testing.assert_allclose(
        ours.base_values + ours.values.sum(axis=1), ours.predictions, atol=1e-12
    )
    assert ours.feature_names == ("x0", "x1", "x2", "x3", "x4")


def test_a_linear_model_gets_its_closed_form_and_text_columns_work() -> None:
    """phi_i = w_i (x_i - mean(background_i)); a column the model ignores gets exactly 0."""
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(1)
    train = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    model = LinearRegression().fit(train, train @ [2.0, -1.0, 0.5] + 3)
    city = np.array(["paris", "oslo", "rome"], dtype=object)

    def predict(rows: pd.DataFrame) -> Any:
        assert rows["city"].isin(city).all()
        return model.predict(rows[["a", "b", "c"]])

    rows = train.head(6).assign(city=city[[0, 1, 2, 0, 1, 2]])
    background = train.tail(30).assign(city=city[np.arange(30) % 3])

    result = explain_rows(predict, rows, background=background)

    numeric = ["a", "b", "c"]
    closed = model.coef_ * (rows[numeric].to_numpy() - background[numeric].to_numpy().mean(0))
    np.testing.assert_allclose(result.values[:, :3], closed, atol=1e-12)
    np.testing.assert_allclose(result.values[:, 3], 0.0, atol=1e-12)
    assert result.feature_names == ("a", "b", "c", "city")
    assert result.output == "prediction"


def test_sampling_is_within_its_error_bars_and_exactly_efficient(data: tuple[Any, Any]) -> None:
    rows, background = data
    exact = explain_rows(interacting, rows, background=background, method="exact")

    sampled = explain_rows(
        interacting, rows, background=background, method="sampling", n_permutations=200
    )

    assert sampled.method == "sampling"
    assert sampled.standard_errors is not None
    z = (sampled.values - exact.values) / np.maximum(sampled.standard_errors, 1e-12)
    assert np.abs(z).max() < 5
    assert np.abs(sampled.values - exact.values).max() > 1e-6  # it did sample
    np.testing.assert_allclose(
        sampled.base_values + sampled.values.sum(axis=1), sampled.predictions, atol=1e-12
    )
    np.testing.assert_allclose(sampled.predictions, interacting(rows), atol=1e-12)
    again = explain_rows(
        interacting, rows, background=background, method="sampling", n_permutations=200
    )
    np.testing.assert_array_equal(again.values, sampled.values)  # seeded


def test_auto_samples_above_ten_features_and_converges() -> None:
    rng = np.random.default_rng(2)
    rows, background = rng.normal(size=(2, 12)), rng.normal(size=(8, 12))

    def f(a: Any) -> Any:
        return a[:, 0] * a[:, 1] * a[:, 2] + np.tanh(a[:, 3:].sum(axis=1)) * a[:, 4]

    auto = explain_rows(f, rows, background=background, n_permutations=256)
    exact = explain_rows(f, rows, background=background, method="exact")

    assert auto.method == "sampling"
    assert auto.standard_errors is not None
    z = (auto.values - exact.values) / np.maximum(auto.standard_errors, 1e-12)
    assert np.abs(z).max() < 5


def test_probabilities_are_explained_per_class() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    labels = np.array(["low", "mid", "high"])[np.digitize(x["a"] + x["b"], [-0.7, 0.7])]
    model = LogisticRegression().fit(x, labels)
    background = x.head(25)

    result = explain_rows(model, x.tail(4), background=background)

    assert result.values.shape == (4, 3, 3)
    assert result.output == "probability"
    assert result.output_names == tuple(model.classes_)
    np.testing.assert_allclose(result.predictions, model.predict_proba(x.tail(4)), atol=1e-12)
    np.testing.assert_allclose(
        result.base_values + result.values.sum(axis=1), result.predictions, atol=1e-12
    )
    for i, row in enumerate(x.tail(4).to_numpy()):
        for k in range(3):

            def proba(a: Any, k: int = k) -> Any:
                return model.predict_proba(pd.DataFrame(a, columns=x.columns))[:, k]

            reference = by_definition(proba, row, background.to_numpy())
            np.testing.assert_allclose(result.values[i, :, k], reference, atol=1e-12)
    chosen = explain_rows(model, x.tail(4), background=background, model_method="predict_proba")
    np.testing.assert_array_equal(chosen.values, result.values)


def test_rows_lists_top_contributions_and_keeps_the_sum(data: tuple[Any, Any]) -> None:
    rows, background = data
    result = explain_rows(interacting, rows, background=background)

    listed = result.rows(top_k=2)

    assert len(listed) == len(rows)
    for i, row in enumerate(listed):
        values = list(row["contributions"].values())
        assert len(values) == 2
        assert abs(values[0]) >= abs(values[1])
        strongest = np.sort(np.abs(result.values[i]))[::-1][:2]
        np.testing.assert_allclose(np.abs(values), strongest)
        total = row["base_value"] + sum(values) + row["rest"]
        assert total == pytest.approx(row["prediction"], abs=1e-12)
    full = result.rows()
    assert all(row["rest"] == pytest.approx(0.0, abs=1e-12) for row in full)
    assert result.top(0, 2) == list(listed[0]["contributions"].items())
    assert list(result.to_frame().columns) == list(result.feature_names)


def test_categories_reach_the_model_as_categories() -> None:
    rows = pd.DataFrame({"kind": pd.Categorical(["a", "b"], categories=["a", "b"]), "v": [1.0, 2]})
    background = pd.DataFrame(
        {"kind": pd.Categorical(["b", "b", "a"], categories=["a", "b"]), "v": [0.0, 1, 2]}
    )

    def predict(frame: pd.DataFrame) -> Any:
        assert isinstance(frame["kind"].dtype, pd.CategoricalDtype)
        return (frame["kind"] == "a") * 10.0 + frame["v"].to_numpy()

    result = explain_rows(predict, rows, background=background)

    np.testing.assert_allclose(result.values[:, 0], [10 - 10 / 3, -10 / 3])
    np.testing.assert_allclose(result.values[:, 1], [0.0, 1.0])


def test_chunked_batches_give_the_same_values(
    monkeypatch: pytest.MonkeyPatch, data: tuple[Any, Any]
) -> None:
    from kiln.explain import _shapley

    rows, background = data
    whole = explain_rows(interacting, rows, background=background)
    sizes: list[int] = []

    def counted(a: Any) -> Any:
        sizes.append(len(a))
        return interacting(a)

    monkeypatch.setattr(_shapley, "MAX_BATCH_ROWS", 7 * len(background))
    chunked = explain_rows(counted, rows, background=background)

    assert max(sizes) == 7 * len(background)
    assert sum(sizes) == len(rows) * 32 * len(background)
    np.testing.assert_allclose(chunked.values, whole.values, atol=1e-12)


def test_a_costly_request_is_refused_before_any_work(data: tuple[Any, Any]) -> None:
    rows, background = data
    calls: list[int] = []

    def counted(a: Any) -> Any:
        calls.append(len(a))
        return interacting(a)

    with pytest.raises(InvalidInput, match="send at most 3 rows") as error:
        explain_rows(counted, rows, background=background, max_evaluations=2000)

    assert error.value.field == "rows"
    assert calls == []
    explain_rows(counted, rows[:3], background=background, max_evaluations=2000)
    assert sum(calls) == 3 * 32 * 20


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"background": None}, "background"),
        ({"background": pd.DataFrame({"x0": [1.0]})}, "background"),
        ({"method": "kernel"}, "method"),
        ({"method": "tree"}, "method"),
        ({"model_method": "decision_function"}, "model_method"),
        ({"method": "tree", "model_method": "predict"}, "model_method"),
        ({"model_method": "predict_proba"}, "model_method"),
        ({"method": "sampling", "n_permutations": 3}, "n_permutations"),
        ({"model": lambda a: np.array(["yes"] * len(a))}, "model"),
        ({"model": lambda a: np.zeros(2)}, "model"),
        ({"model": object()}, "model"),
        ({"rows": np.zeros((2, 2, 2))}, "rows"),
        ({"rows": {"x0": np.zeros((2, 2))}}, "x0"),
    ],
)
def test_bad_input_names_the_argument(
    data: tuple[Any, Any], kwargs: dict[str, Any], field: str
) -> None:
    rows, background = data
    frame = pd.DataFrame(rows, columns=[f"x{j}" for j in range(5)])
    arguments: dict[str, Any] = {"model": interacting, "rows": rows, "background": background}
    arguments |= kwargs
    if isinstance(arguments["background"], pd.DataFrame):
        arguments["rows"] = frame

    with pytest.raises(InvalidInput) as error:
        explain_rows(arguments.pop("model"), arguments.pop("rows"), **arguments)

    assert error.value.field == field
    assert error.value.message


def test_top_k_must_be_a_positive_whole_number(data: tuple[Any, Any]) -> None:
    rows, background = data
    result = explain_rows(interacting, rows, background=background)

    for bad in (0, -1, 1.5, True):
        with pytest.raises(InvalidInput) as error:
            result.rows(top_k=bad)  # type: ignore[arg-type]
        assert error.value.field == "top_k"
