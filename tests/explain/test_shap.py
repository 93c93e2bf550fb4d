"""TreeSHAP through shap: additivity against each library's raw output, what the output
is called, global importance, and what happens without shap."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kiln.errors import InvalidInput, NotFound
from kiln.explain import explain_rows, mean_abs_shap, shap_values, supports_tree_shap

Fit = Callable[[pd.DataFrame, Any, Any], tuple[Any, Any]]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, Any, Any, Any]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(300, 4)), columns=["a", "b", "c", "noise"])
    binary = (x["a"] + x["b"] > 0).astype("int64")
    three = np.digitize(x["a"], [-0.5, 0.5])
    value = 2 * x["a"] - x["c"] + 0.5 * x["a"] * x["b"]
    return x, binary, three, value


def _sklearn(name: str, target: str, raw: str, **params: Any) -> Fit:
    def fit(x: pd.DataFrame, y: Any, _: Any) -> tuple[Any, Any]:
        import sklearn.ensemble as ensemble

        model = getattr(ensemble, name)(random_state=0, **params).fit(x, y)
        return model, getattr(model, raw)(x)

    fit.target = target  # type: ignore[attr-defined]
    return fit


def _xgb(cls: str, target: str) -> Fit:
    def fit(x: pd.DataFrame, y: Any, _: Any) -> tuple[Any, Any]:
        import xgboost

        model = getattr(xgboost, cls)(n_estimators=15, max_depth=3).fit(x, y)
        return model, model.predict(x, output_margin=True)

    fit.target = target  # type: ignore[attr-defined]
    return fit


def _lgbm(target: str, booster: bool = False) -> Fit:
    def fit(x: pd.DataFrame, y: Any, _: Any) -> tuple[Any, Any]:
        import lightgbm

        if booster:
            params = {"objective": "binary", "verbose": -1, "num_leaves": 7}
            model = lightgbm.train(params, lightgbm.Dataset(x, y), num_boost_round=15)
        else:
            model = lightgbm.LGBMClassifier(n_estimators=15, num_leaves=7, verbose=-1).fit(x, y)
        return model, model.predict(x, raw_score=True)

    fit.target = target  # type: ignore[attr-defined]
    return fit


# name → (fit, which target, the output the values add up to, tolerance)
CASES: dict[str, tuple[Fit, str, str, float]] = {
    "random_forest_classifier": (
        _sklearn("RandomForestClassifier", "binary", "predict_proba", n_estimators=10),
        "binary", "probability", 1e-6,
    ),
    "random_forest_regressor": (
        _sklearn("RandomForestRegressor", "value", "predict", n_estimators=10),
        "value", "prediction", 1e-6,
    ),
    "gradient_boosting_classifier": (
        _sklearn("GradientBoostingClassifier", "binary", "decision_function", n_estimators=20),
        "binary", "margin", 1e-6,
    ),
    "hist_gradient_boosting_binary": (
        _sklearn("HistGradientBoostingClassifier", "binary", "decision_function", max_iter=15),
        "binary", "margin", 1e-6,
    ),
    "hist_gradient_boosting_three_classes": (
        _sklearn("HistGradientBoostingClassifier", "three", "decision_function", max_iter=15),
        "three", "margin", 1e-6,
    ),
    "hist_gradient_boosting_regressor": (
        _sklearn("HistGradientBoostingRegressor", "value", "predict", max_iter=15),
        "value", "prediction", 1e-6,
    ),
    "hist_gradient_boosting_poisson": (
        _sklearn("HistGradientBoostingRegressor", "count", "_raw_predict", max_iter=15,
                 loss="poisson"),
        "count", "margin", 1e-6,
    ),
    # XGBoost computes in float32: its own margin carries ~1e-6 relative rounding.
    "xgboost_classifier": (_xgb("XGBClassifier", "binary"), "binary", "margin", 1e-5),
    "xgboost_three_classes": (_xgb("XGBClassifier", "three"), "three", "margin", 1e-5),
    "xgboost_regressor": (_xgb("XGBRegressor", "value"), "value", "prediction", 1e-5),
    "lightgbm_classifier": (_lgbm("binary"), "binary", "margin", 1e-6),
    "lightgbm_three_classes": (_lgbm("three"), "three", "margin", 1e-6),
    "lightgbm_booster": (_lgbm("binary", booster=True), "binary", "margin", 1e-6),
}  # fmt: skip


USED = {"binary": {"a", "b"}, "three": {"a"}, "value": {"a", "b", "c"}, "count": {"a", "b", "c"}}


@pytest.mark.parametrize("case", sorted(CASES))
def test_base_plus_contributions_is_the_models_raw_output(
    case: str, data: tuple[pd.DataFrame, Any, Any, Any]
) -> None:
    x, binary, three, value = data
    fit, target, output, tolerance = CASES[case]
    y = {"binary": binary, "three": three, "value": value, "count": np.round(np.exp(value / 3))}
    model, raw = fit(x, y[target], None)
    if case.endswith("_poisson"):
        raw = raw[:, 0]  # sklearn's raw predictions are (rows, 1) for one output

    explanation = shap_values(model, x)

    assert supports_tree_shap(model)
    assert explanation.method == "tree"
    assert explanation.output == output
    raw = np.asarray(raw, dtype=np.float64)
    assert explanation.values.shape == (len(x), 4, *raw.shape[1:])
    rebuilt = explanation.base_values + explanation.values.sum(axis=1)
    np.testing.assert_allclose(rebuilt, raw, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(explanation.predictions, rebuilt)
    if raw.ndim == 2:
        assert len(explanation.output_names) == raw.shape[1]
    # A feature the target is made of comes first; one it ignores comes last.
    ranked = mean_abs_shap(model, x).features
    assert ranked[0] in USED[target]
    assert ranked[-1] not in USED[target]


def test_mean_abs_shap_is_the_mean_absolute_value(data: tuple[pd.DataFrame, Any, Any, Any]) -> None:
    from sklearn.ensemble import RandomForestRegressor

    x, _, _, value = data
    model = RandomForestRegressor(n_estimators=10, random_state=0).fit(x, value)

    importance = mean_abs_shap(model, x)
    values = shap_values(model, x).values

    assert importance.method == "mean_abs_shap"
    assert importance.features[0] == "a"
    expected = dict(zip(x.columns, np.abs(values).mean(axis=0), strict=True))
    assert importance.to_dict() == pytest.approx(expected)
    np.testing.assert_allclose(
        importance.std,
        np.abs(values).std(axis=0)[[list(x.columns).index(f) for f in importance.features]],
    )


def test_a_saved_kiln_model_is_explained_through_its_native_model(
    tmp_path: Path, data: tuple[pd.DataFrame, Any, Any, Any]
) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from kiln.models import load_model, save_model

    x, binary, _, _ = data
    model = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(x, binary)
    save_model(model, tmp_path / "m", input_example=x.head(5))
    predictor = load_model(tmp_path / "m")

    through_kiln = explain_rows(predictor, x.head(8))
    direct = shap_values(model, x.head(8))

    assert through_kiln.method == "tree"
    np.testing.assert_allclose(through_kiln.values, direct.values)
    np.testing.assert_allclose(through_kiln.predictions, model.decision_function(x.head(8)))
    array = shap_values(model.fit(x.to_numpy(), binary), x.head(8).to_numpy(), columns=list("abcd"))
    assert array.feature_names == ("a", "b", "c", "d")


def test_an_unsupported_tree_falls_back_when_there_is_background(
    data: tuple[pd.DataFrame, Any, Any, Any],
) -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    x, _, three, _ = data
    model = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(x, three)

    with pytest.raises(InvalidInput, match="TreeExplainer cannot explain") as error:
        explain_rows(model, x.head(3))
    assert error.value.field == "model"
    fallback = explain_rows(model, x.head(3), background=x.tail(10))
    assert fallback.method == "exact"
    assert fallback.output == "probability"


def test_other_models_are_refused_by_shap_values(data: tuple[pd.DataFrame, Any, Any, Any]) -> None:
    from sklearn.linear_model import LinearRegression

    x, _, _, value = data
    model = LinearRegression().fit(x, value)

    assert not supports_tree_shap(model)
    with pytest.raises(InvalidInput, match="explain_rows") as error:
        shap_values(model, x)
    assert error.value.field == "model"


def test_without_shap_the_error_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, data: tuple[pd.DataFrame, Any, Any, Any]
) -> None:
    from sklearn.ensemble import RandomForestRegressor

    x, _, _, value = data
    model = RandomForestRegressor(n_estimators=3, random_state=0).fit(x, value)
    monkeypatch.setitem(sys.modules, "shap", None)

    assert not supports_tree_shap(model)
    with pytest.raises(NotFound, match=r"install kiln-ml\[shap\]"):
        shap_values(model, x)
    with pytest.raises(NotFound, match=r"install kiln-ml\[shap\]"):
        explain_rows(model, x.head(2), method="tree")
    with pytest.raises(InvalidInput, match="background") as error:
        explain_rows(model, x.head(2))
    assert error.value.field == "background"
    fallback = explain_rows(model, x.head(2), background=x.tail(20))
    assert fallback.method == "exact"
    np.testing.assert_allclose(fallback.predictions, model.predict(x.head(2)))


def test_importing_kiln_explain_imports_no_heavy_library() -> None:
    import subprocess

    code = (
        "import sys, kiln.explain; print(sorted(m for m in ('numpy', 'shap', 'sklearn', "
        "'pandas') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
