"""A monitor over the prediction log of a deployment really served over HTTP.

A registered scikit-learn model behind a deployment on a real server on
127.0.0.1 answers requests whose second half has one column tripled; the
server stops (its log flushes), the true labels are posted by request id,
and the monitor reads the log: it flags that column only and measures the
performance on the labelled rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import kiln
from kiln import registry
from kiln.auth import ensure_project
from kiln.models import log_model
from kiln.monitoring._evaluate import evaluate_monitor
from kiln.monitoring._monitors import create_monitor
from kiln.monitoring._profiles import create_profile
from kiln.server.background import BackgroundServer
from kiln.serving import create_app
from kiln.serving._deployments import create_deployment
from kiln.serving._predictions_labels import post_labels
from kiln.tracking import _fluent
from tests.serving.conftest import wait_ready

pytestmark = pytest.mark.timeout(180)
FEATURES = ["amount", "hour", "distance"]


def frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 40.0, rows),
            "hour": rng.integers(0, 24, rows).astype("int64"),
            "distance": rng.exponential(20.0, rows),
        }
    )
    data["label"] = ((data["amount"] > 90) | (data["distance"] > 45)).astype("int64")
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


def test_the_monitor_reads_what_the_server_logged_and_flags_the_shifted_column(
    store: kiln.Context,
) -> None:
    from sklearn.tree import DecisionTreeClassifier

    project = store.settings.project
    train = frame(3_000, 0)
    model = DecisionTreeClassifier(max_depth=4, random_state=0).fit(train[FEATURES], train["label"])
    with kiln.start_run(experiment="served"):
        logged = log_model(model, "model", input_example=train[FEATURES].head(5))
    version = registry.register_model(logged.uri, "fraud").version
    registry.set_alias("fraud", "champion", version)
    policy = {"arms": [{"name": "fraud@champion", "weight": 100}]}
    store.db.run(create_deployment, project, "fraud-api", policy, user="test")

    reference = train.assign(predictions=model.predict(train[FEATURES]))
    create_profile(store, project, "fraud-ref", reference[[*FEATURES, "predictions"]])
    spec = {"profile": "fraud-ref", "window": "1d", "task": "classification"}
    store.db.run(
        create_monitor,
        project,
        "fraud-watch",
        target_kind="deployment",
        target="fraud-api",
        spec=spec,
    )

    live = frame(800, 1)
    live.loc[400:, "distance"] = live.loc[400:, "distance"] * 3  # the second half drifts
    since = datetime.now(UTC) - timedelta(seconds=1)
    ids: dict[str, list[int]] = {}
    app = create_app(deployments=["fraud-api"], context=store, poll_seconds=0.2)
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert wait_ready(client).status_code == 200
        for start in range(0, len(live), 20):
            part = live.iloc[start : start + 20]
            answer = client.post(
                "/v1/deployments/fraud-api/predict",
                json={"records": part[FEATURES].to_dict("records")},
            )
            assert answer.status_code == 200, answer.text
            ids[answer.json()["request_id"]] = part["label"].tolist()
    store.db.run(post_labels, project, "fraud-api", ids)

    (window,) = evaluate_monitor(store, project, "fraud-watch", since=since)
    assert window.rows == 800
    drifted = sorted(
        k.split(".")[1]
        for k, v in window.metrics.items()
        if k.endswith(".drift") and k.startswith("drift.") and v == 1
    )
    assert drifted == ["distance"]
    assert window.metrics["performance.labeled"] == 800
    assert 0.5 < window.metrics["performance.accuracy"] <= 1.0
