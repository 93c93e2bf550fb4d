"""Deployments on a real model server: canary splits, sticky keys, shadows logged and never
returned, bandit feedback, and reloads under load without one failed request."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import kiln
from kiln import registry
from kiln.auth import ensure_project
from kiln.errors import AlreadyExists, InvalidInput, NotFound
from kiln.models import log_model
from kiln.server.background import BackgroundServer
from kiln.serving import create_app
from kiln.serving._deployments import (
    create_deployment,
    deployment_history,
    get_deployment,
    rollback_deployment,
    set_traffic,
)
from kiln.serving._predictions_index import read_predictions
from kiln.tracking import _fluent
from tests.serving._models import Scorer, scorer_example
from tests.serving.conftest import wait_ready

ROW = {"amount": 1.0, "count": 0, "city": "x"}  # version v answers 2 + 100 * v


@pytest.fixture
def store(tmp_path: Path, sqlite_url: str) -> Iterator[kiln.Context]:
    """``scorer`` versions 1, 2 and 3 (answering 102, 202, 302), ``champion`` → 1."""
    context = kiln.configure(home=tmp_path / "home", database_url=sqlite_url)
    context.db.run(ensure_project, context.settings.project)
    try:
        for offset in (100.0, 200.0, 300.0):
            with kiln.start_run(experiment="deployments"):
                logged = log_model(
                    Scorer(offset=offset),
                    "model",
                    input_example=scorer_example(),
                    allow_pickle=True,
                )
            registry.register_model(logged, "scorer")
        registry.set_alias("scorer", "champion", 1)
        yield context
    finally:
        _fluent._reset_for_tests()
        kiln.configure(home=tmp_path / "after")
        kiln.get_context().close()


def deploy(context: kiln.Context, policy: dict[str, Any], name: str = "fraud") -> None:
    context.db.run(create_deployment, context.settings.project, name, policy, user="test")


def serve(context: kiln.Context, *names: str) -> Any:
    app = create_app(deployments=list(names), context=context, poll_seconds=0.1, allow_pickle=True)
    return BackgroundServer(app)


def split(*arms: tuple[str, float], **extra: Any) -> dict[str, Any]:
    return {"arms": [{"name": n, "weight": w} for n, w in arms], **extra}


def answer_of(client: httpx.Client, name: str = "fraud", **kwargs: Any) -> dict[str, Any]:
    response = client.post(f"/v1/deployments/{name}/predict", json={"records": [ROW]}, **kwargs)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_records_revisions_and_rollback(store: kiln.Context) -> None:
    project = store.settings.project
    deploy(store, split(("scorer@champion", 100)))
    with pytest.raises(AlreadyExists):
        deploy(store, split(("scorer/2", 100)))
    with pytest.raises(InvalidInput) as bad:
        store.db.run(set_traffic, project, "fraud", split(("scorer/1", 90), ("scorer/2", 5)))
    assert bad.value.field == "arms"
    with pytest.raises(InvalidInput) as named:
        deploy(store, split(("scorer/1", 100)), name="no spaces")
    assert named.value.field == "name"
    store.db.run(set_traffic, project, "fraud", split(("scorer/1", 90), ("scorer/2", 10)), note="c")
    back = store.db.run(rollback_deployment, project, "fraud", user="ops")
    assert back.revision == 3
    assert [a.name for a in back.policy.arms] == ["scorer@champion"]
    history = store.db.read(deployment_history, project, "fraud")
    assert [(e.revision, e.action) for e in history] == [(3, "rollback"), (2, "set"), (1, "create")]
    assert history[0].note == "back to revision 1"
    with pytest.raises(NotFound):
        store.db.read(get_deployment, project, "nope")
    with pytest.raises(InvalidInput):
        store.db.run(rollback_deployment, project, "fraud", to_revision=3)


def test_a_canary_split_routes_by_weight_and_sticky_keys_stay(store: kiln.Context) -> None:
    deploy(store, split(("scorer@champion", 80), ("scorer/2", 20), sticky_key="city", salt="s"))
    with serve(store, "fraud") as url, httpx.Client(base_url=url, timeout=30) as client:
        assert wait_ready(client).status_code == 200
        seen = Counter()
        for i in range(300):
            body = answer_of(client, headers={"x-kiln-key": f"user-{i}"})
            seen[(body["arm"], body["version"], body["predictions"][0])] += 1
        assert set(seen) == {("scorer@champion", "1", 102.0), ("scorer/2", "2", 202.0)}
        assert 0.7 < seen[("scorer@champion", "1", 102.0)] / 300 < 0.9
        # The same key always lands on the same arm, from the header or the row's field.
        arms = {answer_of(client, headers={"x-kiln-key": "alice"})["arm"] for _ in range(20)}
        assert len(arms) == 1
        from_field = {
            client.post(
                "/v1/deployments/fraud/predict", json={"records": [{**ROW, "city": "alice"}]}
            ).json()["arm"]
            for _ in range(20)
        }
        assert from_field == arms
        state = client.get("/v1/deployments/fraud").json()
        assert state["revision"] == 1
        assert [(a["arm"], a["version"], a["serving"]) for a in state["arms"]] == [
            ("scorer@champion", "1", True),
            ("scorer/2", "2", True),
        ]
        assert (
            client.post("/v1/deployments/nope/predict", json={"records": [ROW]}).status_code == 404
        )


def test_shadows_are_logged_and_never_returned(store: kiln.Context) -> None:
    deploy(store, split(("scorer/1", 100), shadows=["scorer/3"]))
    ids = []
    with serve(store, "fraud") as url, httpx.Client(base_url=url, timeout=30) as client:
        assert wait_ready(client).status_code == 200
        for i in range(20):
            body = answer_of(client, headers={"x-request-id": f"req-{i}"})
            assert body["predictions"] == [102.0]
            ids.append(body["request_id"])
        time.sleep(0.3)  # let the shadows finish before the server drains
    logged = read_predictions(store, store.settings.project, "fraud").to_pylist()
    by_route = Counter(row["route"] for row in logged)
    assert by_route == {"primary": 20, "shadow": 20}
    shadows = {row["request_id"]: row for row in logged if row["route"] == "shadow"}
    assert set(shadows) == set(ids)
    assert {row["version"] for row in shadows.values()} == {3}
    assert '"predictions":[302.0]' in next(iter(shadows.values()))["outputs"].replace(" ", "")


def test_a_bandit_learns_from_feedback(store: kiln.Context) -> None:
    policy = {
        "mode": "bandit",
        "arms": ["scorer/1", "scorer/2"],
        "bandit": {"algorithm": "epsilon_greedy", "epsilon": 0.05, "seed": 1},
    }
    deploy(store, policy)
    with serve(store, "fraud") as url, httpx.Client(base_url=url, timeout=30) as client:
        assert wait_ready(client).status_code == 200
        for _ in range(120):
            body = answer_of(client)
            reward = 1.0 if body["arm"] == "scorer/2" else 0.0
            fed = client.post(
                "/v1/deployments/fraud/feedback",
                json={"request_id": body["request_id"], "reward": reward},
            )
            assert fed.status_code == 200, fed.text
        late = Counter(answer_of(client)["arm"] for _ in range(100))
        assert late["scorer/2"] > 80
        bad = client.post("/v1/deployments/fraud/feedback", json={"request_id": "x", "reward": 1})
        assert (bad.status_code, bad.json()["field"]) == (404, "request_id")
        bad = client.post("/v1/deployments/fraud/feedback", json={"arm": "scorer/1", "reward": 7})
        assert bad.status_code == 400
        bad = client.post("/v1/deployments/fraud/feedback", json={"arm": "scorer/9", "reward": 1})
        assert (bad.status_code, bad.json()["field"]) == (400, "arm")
    # What it learnt is saved with the deployment at shutdown.
    saved = store.db.read(get_deployment, store.settings.project, "fraud").bandit_state
    assert saved is not None
    assert saved != {}


def test_reloads_under_load_fail_no_request(store: kiln.Context) -> None:
    project = store.settings.project
    deploy(store, split(("scorer@champion", 100)))
    failures: list[str] = []
    answers: list[float] = []
    stop = threading.Event()

    def hammer(url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set():
                response = client.post("/v1/deployments/fraud/predict", json={"records": [ROW]})
                if response.status_code != 200:
                    failures.append(response.text)
                else:
                    answers.append(response.json()["predictions"][0])

    def until(predicate: Any, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "the server did not reload in time"
            time.sleep(0.05)

    with serve(store, "fraud") as url, httpx.Client(base_url=url, timeout=30) as client:
        assert wait_ready(client).status_code == 200
        threads = [threading.Thread(target=hammer, args=(url,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            until(lambda: len(answers) > 50)
            # 1. Moving the alias: v3 is loaded beside v1, then takes over.
            registry.set_alias("scorer", "champion", 3)
            until(lambda: answers[-1] == 302.0)
            # 2. A new revision: all traffic to v2.
            store.db.run(set_traffic, project, "fraud", split(("scorer/2", 100)))
            until(lambda: answers[-1] == 202.0)
            # 3. A revision whose new arm cannot load: never routed to; v2 keeps serving.
            store.db.run(set_traffic, project, "fraud", split(("scorer/2", 50), ("missing/1", 50)))
            until(lambda: client.get("/v1/deployments/fraud").json()["revision"] == 3)
            count = len(answers)
            until(lambda: len(answers) > count + 100)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        state = client.get("/v1/deployments/fraud").json()
    assert failures == []
    assert set(answers[count:]) == {202.0}
    missing = next(arm for arm in state["arms"] if arm["arm"] == "missing/1")
    assert missing["serving"] is False
    assert "missing" in missing["error"]


def test_a_deployment_without_a_loadable_arm_is_not_ready(store: kiln.Context) -> None:
    deploy(store, split(("missing@champion", 100)))
    with serve(store, "fraud") as url, httpx.Client(base_url=url, timeout=30) as client:
        ready = wait_ready(client)
    assert ready.status_code == 503
    assert "no arm that could be loaded" in ready.json()["error"]


def test_the_servers_own_context_is_used_not_the_current_one(
    store: kiln.Context, tmp_path: Path
) -> None:
    deploy(store, split(("scorer@champion", 100), shadows=["scorer/2"]))
    kiln.configure(home=tmp_path / "elsewhere")  # the current context is now another store
    with serve(store, "fraud") as url, httpx.Client(base_url=url, timeout=30) as client:
        assert wait_ready(client).status_code == 200
        for _ in range(30):
            assert answer_of(client)["predictions"] == [102.0]
        metrics = client.get("/metrics").text
    # Every shadow answer is logged, even those still running when the server stops.
    logged = read_predictions(store, store.settings.project, "fraud").to_pylist()
    assert Counter(row["route"] for row in logged) == {"primary": 30, "shadow": 30}
    assert 'route="shadow"' in metrics
