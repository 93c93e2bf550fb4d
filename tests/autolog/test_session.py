"""Which run an autologged fit logs into, how that run ends, and failures in logging."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

import kiln
from kiln.autolog import AutologWarning, autolog
from kiln.context import Context
from kiln.tracking import RunStatus
from tests.autolog.conftest import artifact_paths, only_run, runs


def test_without_an_active_run_each_fit_gets_its_own_finished_run(
    autologged: Context, classification: tuple[Any, Any]
) -> None:
    x, y = classification

    LogisticRegression(C=1.0).fit(x, y)
    LogisticRegression(C=2.0).fit(x, y)

    first, second = runs()
    assert (first.params["C"], second.params["C"]) == ("1.0", "2.0")
    assert first.status is second.status is RunStatus.FINISHED
    assert first.parent_run_id is None
    assert kiln.active_run() is None


def test_a_fit_inside_an_active_run_logs_into_it_and_leaves_it_open(
    autologged: Context, classification: tuple[Any, Any]
) -> None:
    x, y = classification

    with kiln.start_run(run_name="mine") as mine:
        kiln.log_param("owner", "me")
        LogisticRegression().fit(x, y)
        assert kiln.active_run() is mine
        assert kiln.get_run(mine.id).status is RunStatus.RUNNING

    run = only_run()
    assert run.id == mine.id
    assert run.params["owner"] == "me"
    assert run.params["solver"] == "lbfgs"
    assert "training_accuracy_score" in run.metrics
    assert "model/model.skops" in artifact_paths(run)


def test_later_fits_in_the_same_run_get_child_runs(
    autologged: Context, classification: tuple[Any, Any]
) -> None:
    x, y = classification

    with kiln.start_run() as mine:
        for c in (0.1, 1.0, 10.0):
            LogisticRegression(C=c).fit(x, y)

    parent, *children = runs()
    assert parent.id == mine.id
    assert parent.params["C"] == "0.1"
    assert [child.params["C"] for child in children] == ["1.0", "10.0"]
    assert {child.parent_run_id for child in children} == {mine.id}
    assert all(child.status is RunStatus.FINISHED for child in children)


def test_exclusive_leaves_the_users_runs_alone(
    store: Context, classification: tuple[Any, Any]
) -> None:
    x, y = classification
    autolog(exclusive=True)

    with kiln.start_run() as mine:
        LogisticRegression().fit(x, y)
    LogisticRegression().fit(x, y)

    user_run, own_run = runs()
    assert user_run.id == mine.id
    assert user_run.params == {}
    assert own_run.params["solver"] == "lbfgs"


def test_an_error_in_the_fit_propagates_unchanged_and_fails_the_run(
    autologged: Context, classification: tuple[Any, Any]
) -> None:
    x, y = classification
    broken = y.astype(float)
    broken[3] = np.nan
    autolog.disable()
    with pytest.raises(ValueError, match="NaN") as plain:
        LogisticRegression().fit(x, broken)
    autolog()

    with pytest.raises(ValueError, match="NaN") as logged:
        LogisticRegression().fit(x, broken)

    assert type(logged.value) is type(plain.value)
    assert str(logged.value) == str(plain.value)
    run = only_run()
    assert run.status is RunStatus.FAILED
    assert run.failure is not None
    assert "ValueError" in run.failure
    assert run.params["solver"] == "lbfgs"  # params are logged before the fit
    assert kiln.active_run() is None


def test_an_error_in_the_fit_inside_a_user_run_leaves_that_run_to_the_user(
    autologged: Context, classification: tuple[Any, Any]
) -> None:
    x, _ = classification

    with pytest.raises(ValueError, match="classes"), kiln.start_run() as mine:
        LogisticRegression().fit(x, np.zeros(len(x)))

    assert only_run().id == mine.id
    assert only_run().status is RunStatus.FAILED  # ended by the user's with block


class Unprintable(float):
    """A valid float param whose ``str()`` raises."""

    def __str__(self) -> str:
        raise RuntimeError("cannot print me")


class BrokenScore(LogisticRegression):
    def score(self, x: Any, y: Any, sample_weight: Any = None) -> float:
        raise RuntimeError("score is broken")


def test_a_failure_while_logging_params_warns_and_the_fit_goes_on(
    store: Context, classification: tuple[Any, Any]
) -> None:
    x, y = classification
    autolog(log_models=False)

    with pytest.warns(AutologWarning, match="logging params.*cannot print me"):
        model = LogisticRegression(C=Unprintable(0.5)).fit(x, y)

    assert model.coef_.shape == (1, 5)
    run = only_run()
    assert run.status is RunStatus.FINISHED
    assert run.tags["estimator_name"] == "LogisticRegression"
    assert run.metrics["training_accuracy_score"].value > 0.5


def test_a_failing_metric_warns_once_and_the_rest_is_logged(
    autologged: Context, classification: tuple[Any, Any]
) -> None:
    x, y = classification

    with pytest.warns(AutologWarning, match="training metrics.*score is broken") as caught:
        fitted = [BrokenScore().fit(x, y) for _ in range(2)]

    assert len([w for w in caught if issubclass(w.category, AutologWarning)]) == 1
    assert all(isinstance(model, BrokenScore) for model in fitted)
    for run in runs():
        assert run.status is RunStatus.FINISHED
        assert run.params["C"] == "1.0"
        assert "training_accuracy_score" not in run.metrics
        assert "model/model.skops" in artifact_paths(run)


def test_silent_hides_the_warnings(store: Context, classification: tuple[Any, Any]) -> None:
    x, y = classification
    autolog(silent=True, log_models=False)

    BrokenScore().fit(x, y)  # warnings are errors in this suite: none may be raised

    assert only_run().status is RunStatus.FINISHED


def test_a_store_that_cannot_start_runs_costs_a_warning_not_the_fit(
    autologged: Context, classification: tuple[Any, Any]
) -> None:
    x, y = classification
    unreachable = kiln.configure(server_url="http://127.0.0.1:9", home=autologged.settings.home)
    assert unreachable.client is not None
    unreachable.client.retries = 0

    with pytest.warns(AutologWarning, match="starting a run"):
        model = KNeighborsClassifier(n_neighbors=3).fit(x, y)

    assert model.predict(x[:2]).shape == (2,)


def test_a_param_the_user_logged_otherwise_is_kept_and_the_rest_logged(
    autologged: Context, classification: tuple[Any, Any]
) -> None:
    x, y = classification

    with kiln.start_run() as mine:
        kiln.log_param("C", "user's choice")
        with pytest.warns(AutologWarning, match="params.*C"):
            LogisticRegression(C=3.0).fit(x, y)

    run = kiln.get_run(mine.id)
    assert run.params["C"] == "user's choice"
    assert run.params["solver"] == "lbfgs"
    assert "training_accuracy_score" in run.metrics
