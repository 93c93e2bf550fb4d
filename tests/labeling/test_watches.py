"""Human in the loop as it happens: a model server turns a watched deployment's unsure
answers into labeling tasks as it logs them — over real HTTP, with the watch managed
through the SDK's services, the REST API and the CLI."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import kiln
import kiln.cli._output
from kiln import auth, labeling, registry
from kiln.cli import app as cli
from kiln.config import Settings
from kiln.context import Context
from kiln.errors import InvalidInput, NotFound
from kiln.labeling import _watches
from kiln.labeling._tasks import list_tasks
from kiln.labeling._watches import list_watches, unwatch_deployment, watch_deployment
from kiln.models import log_model
from kiln.server import create_app as create_kiln_app
from kiln.server.background import BackgroundServer
from kiln.serving import create_app
from kiln.serving._deployments import create_deployment
from kiln.tracking import _fluent
from tests.serving.conftest import wait_ready

pytestmark = pytest.mark.timeout(180)

IRIS = load_iris(as_frame=True)
FEATURES = list(IRIS.data.columns)
NAMES = dict(enumerate(IRIS.target_names))
SCHEMA = {"task_type": "classification", "data_kind": "tabular", "labels": list(NAMES.values())}


@pytest.fixture
def store(tmp_path: Path, sqlite_url: str) -> Iterator[Context]:
    context = kiln.configure(home=tmp_path / "home", database_url=sqlite_url)
    context.db.run(auth.ensure_project, context.settings.project)
    try:
        yield context
    finally:
        _fluent._reset_for_tests()
        kiln.configure(home=tmp_path / "after")
        kiln.get_context().close()


def _deployed(store: Context) -> LogisticRegression:
    """An iris classifier registered, aliased and behind the deployment ``iris-api``."""
    model = LogisticRegression(max_iter=500).fit(IRIS.data, IRIS.target.map(NAMES))
    with kiln.start_run(experiment="served"):
        logged = log_model(model, "model", input_example=IRIS.data.head(5))
    version = registry.register_model(logged.uri, "iris").version
    registry.set_alias("iris", "champion", version)
    policy = {"arms": [{"name": "iris@champion", "weight": 100}]}
    store.db.run(create_deployment, store.settings.project, "iris-api", policy, user="test")
    return model


def _serving_tasks(store: Context, name: str) -> dict[str, Any]:
    found, _ = store.db.read(list_tasks, store.settings.project, name, limit=1000)
    return {task.item_key: task for task in found if task.origin == "serving"}


def _predict(client: httpx.Client, rows: Any) -> str:
    answer = client.post(
        "/v1/deployments/iris-api/predict", json={"records": rows[FEATURES].to_dict("records")}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["request_id"])


def test_a_served_deployments_unsure_answers_become_tasks_as_they_are_logged(
    store: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_watches, "REFRESH_SECONDS", 0.0)
    model = _deployed(store)
    labeling.create_project("iris-review", SCHEMA)
    labeling.create_project("bystander", SCHEMA)  # watches nothing: gets nothing
    labeling.watch_deployment("iris-review", "iris-api", threshold=0.9)  # the SDK
    assert [w.deployment for w in labeling.list_watches("iris-review")] == ["iris-api"]
    confidence = model.predict_proba(IRIS.data).max(axis=1)

    app = create_app(deployments=["iris-api"], context=store, poll_seconds=0.2)
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert wait_ready(client).status_code == 200
        ids = [_predict(client, IRIS.data.iloc[n : n + 10]) for n in range(0, 150, 10)]
        unsure = {f"{ids[i // 10]}:{i % 10}" for i in np.flatnonzero(confidence < 0.9).tolist()}
        assert unsure  # iris has its borderline flowers
        deadline = time.monotonic() + 30  # the log flushes every second, the server runs on
        while set(_serving_tasks(store, "iris-review")) != unsure:
            assert time.monotonic() < deadline, "the unsure answers did not become tasks"
            time.sleep(0.2)

        # Unwatched, the next unsure answers stay answers.
        labeling.unwatch_deployment("iris-review", "iris-api")
        late = _predict(client, IRIS.data.iloc[np.argsort(confidence)[:5]])
    tasks = _serving_tasks(store, "iris-review")
    assert not any(key.startswith(f"{late}:") for key in tasks)
    assert set(tasks) == unsure
    assert not _serving_tasks(store, "bystander")
    least_sure = min(tasks.values(), key=lambda task: task.prediction["score"])
    assert least_sure.prediction["score"] == pytest.approx(confidence.min())
    assert least_sure.prediction["model"] == "models:/iris/1"
    assert least_sure.prediction["label"] in NAMES.values()
    assert set(least_sure.data) == set(FEATURES)
    first = labeling.next_task("iris-review", annotator="ana")
    assert first is not None
    assert first.id == least_sure.id


def test_a_watch_is_checked_and_changed_in_place(store: Context) -> None:
    project = store.settings.project
    _deployed(store)
    labeling.create_project("iris-review", SCHEMA)
    for bad, field in ((0, "threshold"), (1.5, "threshold"), ("high", "threshold")):
        with pytest.raises(InvalidInput) as refused:
            store.db.run(watch_deployment, project, "iris-review", "iris-api", threshold=bad)
        assert refused.value.field == field
    with pytest.raises(InvalidInput) as refused:
        store.db.run(
            watch_deployment, project, "iris-review", "iris-api", threshold=0.5, score_output=""
        )
    assert refused.value.field == "score_output"
    with pytest.raises(NotFound) as missing:
        store.db.run(watch_deployment, project, "iris-review", "no-such-api", threshold=0.5)
    assert missing.value.field == "deployment"
    with pytest.raises(NotFound, match="no labeling project 'nobody'"):
        store.db.run(watch_deployment, project, "nobody", "iris-api", threshold=0.5)
    assert store.db.read(list_watches, project) == []

    store.db.run(watch_deployment, project, "iris-review", "iris-api", threshold=0.5)
    store.db.run(
        watch_deployment, project, "iris-review", "iris-api", threshold=0.8, score_output="p"
    )
    (only,) = store.db.read(list_watches, project)
    assert (only.threshold, only.score_output, only.added) == (0.8, "p", 0)
    with pytest.raises(NotFound) as missing:
        store.db.run(unwatch_deployment, project, "iris-review", "other-api")
    assert missing.value.field == "deployment"
    labeling.delete_project("iris-review")  # its watches go with it
    assert store.db.read(list_watches, project) == []


def test_watches_over_rest_with_roles_and_bad_input(tmp_path: Path) -> None:
    context = Context(Settings(home=tmp_path / "rest", project="shop", auth=True))
    secrets: dict[str, str] = {}
    try:
        context.db.run(auth.ensure_project, "shop")
        policy = {"arms": [{"name": "iris@champion", "weight": 100}]}
        context.db.run(create_deployment, "shop", "iris-api", policy, user="test")
        from kiln.labeling._projects import create_project

        context.db.run(create_project, "shop", "iris-review", SCHEMA)
        for user, role in (("eve", "editor"), ("vic", "viewer")):
            context.db.run(auth.create_user, user)
            context.db.run(auth.set_member, "shop", user, role)
            secrets[user] = context.db.run(auth.create_token, user, "shop").secret
        with (
            BackgroundServer(create_kiln_app(context)) as url,
            httpx.Client(base_url=url + "/api/v1/labeling", timeout=30) as client,
        ):

            def call(user: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
                headers = {"Authorization": f"Bearer {secrets[user]}"}
                return client.request(method, path, headers=headers, **kwargs)

            made = call("eve", "PUT", "/iris-review/watches/iris-api", json={"threshold": 0.7})
            assert made.status_code == 200, made.text
            assert made.json()["threshold"] == 0.7
            assert made.json()["created_by"] == "eve"
            listed = call("vic", "GET", "/iris-review/watches")
            assert [w["deployment"] for w in listed.json()["watches"]] == ["iris-api"]
            assert call("vic", "DELETE", "/iris-review/watches/iris-api").status_code == 403
            for body, field in (
                ({"threshold": 1.5}, "threshold"),
                ({"threshold": 0.5, "extra": 1}, "extra"),
                ({"threshold": 0.5, "score_output": ""}, "score_output"),
            ):
                refused = call("eve", "PUT", "/iris-review/watches/iris-api", json=body)
                assert refused.status_code in (400, 422), refused.text
                assert field in refused.text
                assert "Traceback" not in refused.text
            missing = call("eve", "PUT", "/iris-review/watches/no-api", json={"threshold": 0.5})
            assert missing.status_code == 404
            assert missing.json()["field"] == "deployment"
            assert call("eve", "DELETE", "/iris-review/watches/iris-api").status_code == 204
            gone = call("eve", "DELETE", "/iris-review/watches/iris-api")
            assert gone.status_code == 404
            assert context.db.read(list_watches, "shop") == []
    finally:
        _fluent._reset_for_tests()
        context.close()


def test_watch_watches_and_unwatch_from_the_command_line(
    store: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kiln.cli._output.console, "width", 200)
    _deployed(store)
    labeling.create_project("iris-review", SCHEMA)
    runner = CliRunner()
    home = ["--home", str(store.settings.home), "--database-url", str(store.settings.database_url)]

    def kiln_cli(*args: str) -> Any:
        return runner.invoke(cli, [*home, "labeling", *args])

    done = kiln_cli("watch", "iris-review", "iris-api", "--threshold", "0.75")
    assert done.exit_code == 0, done.output
    assert "iris-review watches iris-api" in done.output
    listed = kiln_cli("watches")
    assert "iris-api" in listed.output
    assert "0.75" in listed.output
    assert "predict_proba" in listed.output
    refused = kiln_cli("watch", "iris-review", "no-api", "--threshold", "0.75")
    assert isinstance(refused.exception, NotFound)  # main() prints it and exits 3
    assert refused.exception.field == "deployment"
    assert kiln_cli("unwatch", "iris-review", "iris-api").exit_code == 0
    assert "no labeling project watches" in kiln_cli("watches").output


def test_the_projects_page_names_the_deployments_it_watches(store: Context) -> None:
    _deployed(store)
    labeling.create_project("iris-review", SCHEMA)
    with BackgroundServer(create_kiln_app(store)) as url:
        before = httpx.get(f"{url}/labeling/iris-review", timeout=30)
        store.db.run(
            watch_deployment, store.settings.project, "iris-review", "iris-api", threshold=0.6
        )
        after = httpx.get(f"{url}/labeling/iris-review", timeout=30)
    assert before.status_code == after.status_code == 200
    assert "kiln labeling watch iris-review DEPLOYMENT" in before.text
    assert 'href="/deployments/iris-api"' in after.text
    assert "answers below 0.6 confidence become tasks (0 so far)" in after.text
