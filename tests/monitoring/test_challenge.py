"""Champion/challenger through the registry's gate, on fresh labelled data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kiln
from kiln import registry
from kiln.auth import ensure_project
from kiln.errors import InvalidInput
from kiln.models import log_model
from kiln.monitoring._challenge import challenge
from kiln.tracking import _fluent


def frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"x1": rng.normal(size=rows), "x2": rng.normal(size=rows)})
    data["group"] = rng.choice(["a", "b"], rows)
    signal = data["x1"] + 0.5 * data["x2"] + np.where(data["group"] == "a", 0.8, 0.0)
    data["label"] = (signal + rng.normal(scale=0.5, size=rows) > 0.4).astype("int64")
    return data


@pytest.fixture
def store(tmp_path: Path, sqlite_url: str) -> Iterator[kiln.Context]:
    context = kiln.configure(home=tmp_path / "home", database_url=sqlite_url)
    context.db.run(ensure_project, context.settings.project)
    try:
        yield context
    finally:
        _fluent._reset_for_tests()
        kiln.configure(home=tmp_path / "after")
        kiln.get_context().close()


def register(columns: list[str], rows: int, *, with_group: bool = False) -> int:
    from sklearn.linear_model import LogisticRegression

    train = frame(rows, seed=rows)
    inputs = train[columns]
    features = inputs.assign(group=(train["group"] == "a").astype(float)) if with_group else inputs

    class Model:
        def __init__(self) -> None:
            self.fitted = LogisticRegression().fit(features, train["label"])

        def predict(self, batch: pd.DataFrame) -> np.ndarray:
            x = batch[columns]
            if with_group:
                x = x.assign(group=(batch["group"] == "a").astype(float))
            return self.fitted.predict(x)

    with kiln.start_run(experiment="challenge"):
        logged = log_model(
            Model(), "model", input_example=train.drop(columns=["label"]).head(3), allow_pickle=True
        )
    return registry.register_model(logged, "churn").version


def test_the_better_challenger_is_promoted_and_a_worse_one_is_not(store: kiln.Context) -> None:
    weak = register(["x2"], 400)
    registry.set_alias("churn", "champion", weak)
    strong = register(["x1", "x2"], 2_000, with_group=True)
    fresh = frame(1_500, seed=99)

    won = challenge("churn", strong, fresh, allow_pickle=True)
    assert won.promoted
    assert won.champion == weak
    assert won.metrics["challenger"]["f1"] > won.metrics["champion"]["f1"]
    assert registry.get_model_version_by_alias("churn", "champion").version == strong
    run = kiln.get_run(registry.get_model_version("churn", strong).run_id)
    assert run.metrics["challenge.f1"].value == pytest.approx(won.metrics["challenger"]["f1"])

    lost = challenge("churn", weak, fresh, allow_pickle=True)
    assert not lost.promoted
    assert "beats the champion on f1" in lost.reason
    assert registry.get_model_version_by_alias("churn", "champion").version == strong


def test_a_fairness_bound_keeps_an_unfair_challenger_out(store: kiln.Context) -> None:
    fair = register(["x1", "x2"], 400)
    registry.set_alias("churn", "champion", fair)
    biased = register(["x1", "x2"], 3_000, with_group=True)
    fresh = frame(1_500, seed=7)
    result = challenge(
        "churn",
        biased,
        fresh,
        sensitive="group",
        max_parity_difference=0.05,
        allow_pickle=True,
    )
    assert result.fairness["challenger"]["demographic_parity_difference"] > 0.05
    assert not result.promoted
    assert "demographic parity difference by group" in result.reason
    assert registry.get_model_version_by_alias("churn", "champion").version == fair


def test_bad_arguments_name_the_field(store: kiln.Context) -> None:
    fresh = frame(50, seed=1)
    with pytest.raises(InvalidInput) as caught:
        challenge("churn", 1, fresh, metric="speed")
    assert caught.value.field == "metric"
    with pytest.raises(InvalidInput) as caught:
        challenge("churn", 1, fresh, label="nope")
    assert caught.value.field == "label"
    with pytest.raises(InvalidInput) as caught:
        challenge("churn", 1, fresh.iloc[:0])
    assert caught.value.field == "data"
