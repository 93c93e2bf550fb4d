"""What a study gives back: the best model through the registry's gate, Optuna's own API, Ray."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import kiln
from kiln import registry
from kiln.errors import Conflict
from kiln.tracking import _fluent
from kiln.training import Float, KilnStorage, tune

X, Y = make_classification(n_samples=400, n_features=6, random_state=0)
X_FIT, X_TEST, Y_FIT, Y_TEST = train_test_split(X, Y, random_state=0)


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> Iterator[kiln.Context]:
    context = kiln.configure(home=tmp_path / "store", database_url=database_url)
    yield context
    _fluent._reset_for_tests()
    kiln.configure(home=tmp_path / "after")


def accuracy(params: dict[str, Any]) -> float:
    model = LogisticRegression(C=params["C"], max_iter=200).fit(X_FIT, Y_FIT)
    return float(model.score(X_TEST, Y_TEST))


def train(params: dict[str, Any]) -> LogisticRegression:
    model = LogisticRegression(C=params["C"], max_iter=200).fit(X_FIT, Y_FIT)
    kiln.log_metric("accuracy", float(model.score(X_TEST, Y_TEST)))
    return model


def test_the_best_parameters_train_register_and_pass_the_gate_in_one_call(
    store: kiln.Context,
) -> None:
    result = tune(
        accuracy,
        space={"C": Float(1e-4, 10.0, log=True)},
        n_trials=8,
        direction="maximize",
        seed=0,
        study="logreg",
    )
    first = result.fit_best(train, register="tuned")  # the registered model exists now
    assert first.version is not None
    assert first.alias is None
    registry.set_gate(
        "tuned",
        "champion",
        [{"type": "metric_threshold", "metric": "accuracy", "op": ">=", "value": 0.7}],
    )
    best = result.fit_best(train, register="tuned", alias="champion", input_example=X_TEST[:5])

    assert best.version is not None
    assert best.version.version == 2
    assert best.alias is not None
    assert registry.get_model_version_by_alias("tuned", "champion").version == best.version.version
    run = kiln.get_run(best.run_id)
    assert run.parent_run_id == result.run_id
    assert float(run.params["C"]) == pytest.approx(result.best_params["C"])
    assert run.metrics["accuracy"].value == pytest.approx(result.best_value)
    loaded = kiln.load_model("models:/tuned@champion")
    again = LogisticRegression(C=result.best_params["C"], max_iter=200).fit(X_FIT, Y_FIT)
    assert np.array_equal(loaded.predict(X_TEST[:5]), again.predict(X_TEST[:5]))


def test_a_gate_that_refuses_the_best_model_says_why_and_keeps_the_version(
    store: kiln.Context,
) -> None:
    result = tune(accuracy, space={"C": Float(0.01, 1.0)}, n_trials=3, direction="maximize")
    result.fit_best(train, register="strict")
    registry.set_gate(
        "strict",
        "champion",
        [{"type": "metric_threshold", "metric": "accuracy", "op": ">=", "value": 1.01}],
    )
    with pytest.raises(Conflict, match="accuracy"):
        result.fit_best(train, register="strict", alias="champion")
    assert registry.get_model_version("strict", 2).version == 2
    with pytest.raises(kiln.NotFound):
        registry.get_model_version_by_alias("strict", "champion")


def test_plain_optuna_works_on_kiln_storage(store: kiln.Context) -> None:
    storage = KilnStorage(store, store.settings.project)
    study = optuna.create_study(study_name="plain", storage=storage, direction="minimize")
    study.optimize(lambda trial: (trial.suggest_float("x", -1, 1) - 0.25) ** 2, n_trials=15)
    study.enqueue_trial({"x": 0.25})
    study.optimize(lambda trial: (trial.suggest_float("x", -1, 1) - 0.25) ** 2, n_trials=1)

    again = optuna.load_study(study_name="plain", storage=KilnStorage(store, "default"))
    assert len(again.trials) == 16
    assert again.best_value == pytest.approx(0.0)
    assert again.best_params == {"x": 0.25}
    assert [s.study_name for s in storage.get_all_studies()] == ["plain"]
    with pytest.raises(optuna.exceptions.DuplicatedStudyError):
        optuna.create_study(study_name="plain", storage=storage)
    study.set_user_attr("owner", "ana")
    assert again.user_attrs == {"owner": "ana"}
    optuna.delete_study(study_name="plain", storage=storage)
    assert storage.get_all_studies() == []


def quad(params: dict[str, Any]) -> float:
    return (params["x"] - 0.5) ** 2


@pytest.fixture
def ray_instance() -> Iterator[None]:
    """The session's local Ray when one runs (the pipelines' tests start it), else a new one."""
    from tests.pipelines.conftest import local_ray, require_ray

    require_ray()
    ray = sys.modules.get("ray")  # not imported here: Ray reads its auth mode on import
    if ray is not None and ray.is_initialized():
        yield
        return
    with local_ray():
        yield


@pytest.mark.ray
def test_trials_run_as_ray_tasks_with_their_resources(tmp_path: Path, ray_instance: None) -> None:
    kiln.configure(home=tmp_path / "store")  # SQLite: Ray's start is the cost, not the store
    result = tune(
        quad,
        space={"x": Float(0, 1)},
        n_trials=6,
        parallelism=2,
        runner="ray",
        resources={"cpu": 1},
        study="on-ray",
    )
    assert [t.number for t in result.trials] == list(range(6))
    assert all(t.state == "COMPLETE" for t in result.trials)
    parent = kiln.get_run(result.run_id)
    assert parent.tags["kiln.tune.runner"] == "ray"
    _fluent._reset_for_tests()
    kiln.configure(home=tmp_path / "after")
