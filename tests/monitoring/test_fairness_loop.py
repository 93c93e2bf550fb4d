"""A fairness alert's retrain: reweighing, then a gate that compares fairness and accuracy.

The history the champion learned from carries label bias (group ``a`` was
labelled positive more often than the truth), the fresh labels do not. A
dataset monitor with the sensitive attribute raises the fairness rule; the
retrain the alert asks for reweighs the biased history (Kamiran-Calders) and
the challenge promotes the challenger only because it is both fairer (parity
within the bound) and at least as accurate on the fresh labels.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kiln
from kiln import registry
from kiln.auth import ensure_project
from kiln.models import log_model
from kiln.monitoring import challenge, reweighing_weights
from kiln.monitoring._evaluate import evaluate_monitor
from kiln.monitoring._monitors import create_monitor
from kiln.monitoring._profiles import create_profile
from kiln.monitoring._rule_evaluation import evaluate_rules
from kiln.monitoring._rules import create_rule
from kiln.tracking import _fluent

FEATURES = ["x1", "x2", "is_a"]


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


def world(rows: int, seed: int, *, label_bias: float) -> pd.DataFrame:
    """True labels from x1 and x2 only; ``label_bias`` flips group a's negatives to positive."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=rows), "x2": rng.normal(size=rows)})
    frame["group"] = rng.choice(["a", "b"], rows)
    frame["is_a"] = (frame["group"] == "a").astype(float)
    truth = frame["x1"] + 0.5 * frame["x2"] + rng.normal(scale=0.5, size=rows) > 0
    flipped = (frame["group"] == "a") & ~truth & (rng.random(rows) < label_bias)
    frame["label"] = (truth | flipped).astype("int64")
    return frame


def fit(history: pd.DataFrame, weights: np.ndarray | None) -> int:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(history[FEATURES], history["label"], sample_weight=weights)
    with kiln.start_run(experiment="fairness"):
        logged = log_model(model, "model", input_example=history[FEATURES].head(3))
    return registry.register_model(logged.uri, "credit").version


def test_a_fairness_alert_retrains_with_reweighing_and_the_gate_checks_parity(
    store: kiln.Context,
) -> None:
    project = store.settings.project
    history = world(4_000, 0, label_bias=0.6)
    champion = fit(history, None)
    registry.set_alias("credit", "champion", champion)

    fresh = world(2_000, 1, label_bias=0.0)
    scored = fresh.assign(
        predictions=registry.load_model("models:/credit@champion").predict(fresh[FEATURES])
    )
    kiln.data.register_dataset(scored, "credit-fresh")
    create_profile(store, project, "credit-ref", history[["x1", "x2", "group"]])
    spec = {
        "profile": "credit-ref",
        "features": ["x1", "x2"],
        "task": "classification",
        "sensitive": ["group"],
    }
    store.db.run(
        create_monitor,
        project,
        "credit-watch",
        target_kind="dataset",
        target="credit-fresh",
        spec=spec,
    )
    metric = "fairness.group.demographic_parity_difference"
    store.db.run(
        create_rule, project, "credit-watch", "parity", metric=metric, operator=">", threshold=0.1
    )
    results = evaluate_monitor(store, project, "credit-watch")
    (alert,) = evaluate_rules(store, project, "credit-watch", results)
    before = alert.details["value"]
    assert before > 0.1

    # The retrain the alert asks for: reweigh the biased history, refit, challenge.
    weights = reweighing_weights(history["label"], history["group"])
    challenger = fit(history, weights)
    result = challenge(
        "credit",
        challenger,
        fresh[[*FEATURES, "group", "label"]],  # the model's inputs are picked by its signature
        metric="accuracy",
        sensitive="group",
        max_parity_difference=before,
        note=f"mitigated after alert {alert.id}",
    )
    fair = result.fairness
    assert (
        fair["challenger"]["demographic_parity_difference"]
        < fair["champion"]["demographic_parity_difference"]
    )
    assert result.metrics["challenger"]["accuracy"] >= result.metrics["champion"]["accuracy"]
    assert result.promoted, result.reason
    assert {r.name for r in result.gate} == {
        "beats the champion on accuracy",
        f"demographic parity difference by group at most {before}",
    }
    assert registry.get_model_version_by_alias("credit", "champion").version == challenger
