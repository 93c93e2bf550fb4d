"""``kiln.autolog()`` itself: nothing imported until called, exact restore, options, surface."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from typing import Any

import lightgbm
import pytest
import xgboost
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

import kiln
import kiln.autolog
from kiln.autolog import Autolog, AutologWarning, autolog, disable
from kiln.context import Context
from kiln.errors import InvalidInput
from kiln.tracking import RunStatus
from tests.autolog.conftest import only_run, runs
from tests.test_public_api import ruff_sort_key

ML_LIBRARIES = {"sklearn", "xgboost", "lightgbm", "scipy", "numpy", "pandas", "torch"}


@pytest.mark.parametrize("code", ["import kiln", "import kiln.autolog"])
def test_importing_loads_no_ml_library(code: str) -> None:
    script = f"import json, sys; {code}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )

    loaded = {name.split(".")[0] for name in json.loads(result.stdout)}
    assert loaded & ML_LIBRARIES == set()


def originals() -> dict[str, Any]:
    """What the patched owners hold in their own ``__dict__`` (or None when inherited)."""
    from xgboost.sklearn import XGBClassifier, XGBModel

    return {
        "LogisticRegression.fit": LogisticRegression.__dict__["fit"],
        "GridSearchCV.fit": GridSearchCV.__dict__.get("fit"),
        "Pipeline.fit_transform": Pipeline.__dict__["fit_transform"],
        "Pipeline.fit_predict": Pipeline.__dict__["fit_predict"],
        "xgboost.train": xgboost.train,
        "XGBModel.fit": XGBModel.__dict__["fit"],
        "XGBClassifier.fit": XGBClassifier.__dict__["fit"],
        "lightgbm.train": lightgbm.train,
        "LGBMModel.fit": lightgbm.LGBMModel.__dict__["fit"],
        "LGBMClassifier.fit": lightgbm.LGBMClassifier.__dict__["fit"],
    }


def test_disable_restores_every_original_exactly(store: Context) -> None:
    before = originals()
    original_fit = LogisticRegression.fit

    autolog()
    patched = originals()
    autolog(log_models=False)  # reconfiguring patches once, not on top of the patches
    assert LogisticRegression.fit.__wrapped__ is original_fit  # type: ignore[attr-defined]
    disable()

    assert all(patched[name] is not before[name] for name in before)
    assert LogisticRegression.fit is original_fit
    assert originals() == before
    assert "fit" not in GridSearchCV.__dict__


def test_disable_true_is_the_same_as_disable(store: Context) -> None:
    before = originals()

    autolog()
    autolog(disable=True)

    assert originals() == before


def test_flavors_choose_what_is_patched(store: Context) -> None:
    before = originals()

    autolog(flavors=["xgboost"])

    assert LogisticRegression.fit is before["LogisticRegression.fit"]
    assert lightgbm.train is before["lightgbm.train"]
    assert xgboost.train is not before["xgboost.train"]


def test_a_library_that_fails_to_import_is_a_warning_and_the_others_log(
    store: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = originals()
    monkeypatch.setitem(sys.modules, "kiln.autolog._lightgbm", None)  # "import ... halted"

    with pytest.warns(AutologWarning, match="lightgbm autolog: importing and patching"):
        autolog()

    assert lightgbm.train is before["lightgbm.train"]
    assert LogisticRegression.fit is not before["LogisticRegression.fit"]


def test_an_unknown_flavor_is_refused(store: Context) -> None:
    with pytest.raises(InvalidInput, match=r"'keras'.*sklearn, xgboost, lightgbm") as caught:
        autolog(flavors=("sklearn", "keras"))

    assert caught.value.field == "flavors"


def test_the_module_and_the_object_are_both_callable(
    store: Context, classification: tuple[Any, Any]
) -> None:
    x, y = classification

    kiln.autolog(log_models=False)  # type: ignore[operator]  # the module, as bound by import
    LogisticRegression().fit(x, y)
    kiln.autolog.disable()
    LogisticRegression().fit(x, y)

    assert only_run().status is RunStatus.FINISHED
    assert "off" in repr(autolog)


def test_public_surface_is_sorted_complete_and_documented() -> None:
    names = kiln.autolog.__all__
    public = {
        name
        for name, value in vars(kiln.autolog).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }

    assert names == sorted(names, key=ruff_sort_key)
    assert public - {"annotations"} == set(names)
    for name in names:
        assert type(getattr(kiln.autolog, name)).__module__ != "kiln.autolog"
    assert isinstance(autolog, Autolog)
    assert issubclass(AutologWarning, UserWarning)
    assert kiln.autolog.__doc__ is not None
    assert len(kiln.autolog.__doc__.splitlines()) > 5


def test_end_to_end_locally_and_through_a_server(
    any_store: Context, classification: tuple[Any, Any]
) -> None:
    x, y = classification
    autolog()

    LogisticRegression().fit(x, y)
    xgboost.XGBClassifier(n_estimators=3).fit(x, y, eval_set=[(x, y)], verbose=False)

    first, second = runs()
    assert first.metrics["training_accuracy_score"].value > 0.5
    assert len(kiln.get_metric_history(second.id, "validation_0-logloss")) == 3
    assert {a.path for a in kiln.list_artifacts(second.id, "model")} >= {
        "model/kiln-model.yaml",
        "model/model.ubj",
    }
