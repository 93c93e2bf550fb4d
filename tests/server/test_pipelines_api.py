"""The pipelines, datasets, lineage and alerts REST API over real HTTP, on a real paused run.

One server and one store per module: ``ref`` and ``events`` are registered,
and ``kiln pipelines run`` runs a pipeline whose gate pauses on ``events``.
Bad input answers 4xx naming the field, never 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kiln.config import Settings
from kiln.context import Context
from kiln.server import create_app
from kiln.server.background import BackgroundServer
from tests.server import _pipelines

pytestmark = pytest.mark.timeout(300)


@dataclass(frozen=True)
class Served:
    client: httpx.Client
    settings: Settings
    folder: Path
    paused: dict[str, Any]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("pipelines-api")
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'kiln.db'}",
        artifact_root=str(home / "artifacts"),
        project="default",
    )
    _pipelines.register_data(settings)
    folder = _pipelines.write_module(home / "code")
    paused = _pipelines.run_cli(folder, settings, "gated")
    context = Context(settings)
    server = BackgroundServer(create_app(context))
    client = httpx.Client(base_url=server.start(), timeout=30)
    try:
        yield Served(client, settings, folder, paused)
    finally:
        client.close()
        server.stop()


def _error(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["message"]
    if field is not None:
        assert body["field"] == field, body
    return body


def test_runs_are_listed_filtered_and_paged(served: Served) -> None:
    client, run_id = served.client, served.paused["id"]
    listed = client.get("/api/v1/pipeline-runs").json()
    assert [run["id"] for run in listed["runs"]] == [run_id]
    assert listed["runs"][0]["status"] == "PAUSED"
    assert "steps" not in listed["runs"][0]
    assert listed["next_offset"] is None
    paused = client.get("/api/v1/pipeline-runs", params={"status": "PAUSED", "pipeline": "gated"})
    assert [run["id"] for run in paused.json()["runs"]] == [run_id]
    none = client.get("/api/v1/pipeline-runs", params={"status": "SUCCEEDED"}).json()
    assert none["runs"] == []
    page = client.get("/api/v1/pipeline-runs", params={"limit": 1}).json()
    assert page["next_offset"] == 1
    assert client.get("/api/v1/pipeline-runs", params={"offset": 1}).json()["runs"] == []


def test_a_run_has_its_steps_and_each_step_its_logs(served: Served) -> None:
    client, run_id = served.client, served.paused["id"]
    run = client.get(f"/api/v1/pipeline-runs/{run_id}").json()
    assert run["target"] == f"{_pipelines.MODULE}:gated"
    assert run["workdir"] == str(served.folder)
    steps = {step["invocation"]: step for step in run["steps"]}
    assert list(steps) == ["pick", "check", "rows", "summary"]
    assert steps["pick"]["status"] == "SUCCEEDED"
    assert steps["check"]["status"] == "PAUSED"
    assert steps["rows"]["status"] == "PENDING"
    assert steps["check"]["upstream"] == ["pick"]
    assert "stdout" not in steps["pick"]
    assert steps["pick"]["has_logs"] is True
    step = client.get(f"/api/v1/pipeline-runs/{run_id}/steps/pick").json()
    assert step["outputs"][0]["materializer"] == "json"
    logs = client.get(f"/api/v1/pipeline-runs/{run_id}/steps/pick/logs").json()
    assert logs["stdout"] == "picked events@latest\n"
    gate_logs = client.get(f"/api/v1/pipeline-runs/{run_id}/steps/check/logs").json()
    assert "FAILED" in gate_logs["stdout"]


def test_the_paused_gate_raised_an_alert_that_can_be_read(served: Served) -> None:
    client, run_id = served.client, served.paused["id"]
    subject = f"step_run:{run_id}/check"
    [alert] = client.get("/api/v1/alerts", params={"subject": subject}).json()
    assert alert["status"] == "OPEN"
    assert alert["kind"] == "data_validation"
    failed = {(check["name"], check["column"]) for check in alert["details"]["failures"]}
    assert ("range", "amount") in failed
    assert client.get(f"/api/v1/alerts/{alert['id']}").json()["title"] == alert["title"]
    report = client.get(f"/api/v1/alerts/{alert['id']}/report")
    assert report.headers["content-type"].startswith("text/html")
    assert "amount" in report.text
    assert client.get("/api/v1/alerts", params={"status": "RESOLVED"}).json() == []


def test_datasets_versions_profile_and_validations(served: Served) -> None:
    client = served.client
    names = [d["name"] for d in client.get("/api/v1/datasets").json()]
    assert names == ["events", "ref"]
    assert client.get("/api/v1/datasets/ref").json()["latest_version"] == 1
    [version] = client.get("/api/v1/datasets/ref/versions").json()
    assert version["uri"] == "ref@1"
    assert version["num_rows"] == 200
    assert [f["name"] for f in version["schema"]] == ["amount", "kind"]
    by_prefix = client.get(f"/api/v1/datasets/ref/versions/{version['version_id'][:10]}").json()
    assert by_prefix["version_id"] == version["version_id"]
    profile = client.get("/api/v1/datasets/ref/versions/latest/profile", params={"bins": 5})
    columns = {c["name"]: c for c in profile.json()["columns"]}
    assert columns["amount"]["min"] == 1.0
    assert columns["amount"]["max"] == 100.0
    assert sum(columns["amount"]["histogram"]["counts"]) == 200
    assert len(columns["amount"]["histogram"]["counts"]) == 5
    assert dict(map(tuple, columns["kind"]["top"])) == {"a": 100, "b": 100}
    # The gate's validation of events@1 was recorded.
    [report] = client.get("/api/v1/datasets/events/versions/1/validations").json()
    assert report["passed"] is False
    assert report["reference"] is not None
    assert client.get("/api/v1/datasets/events/validations").json()[0]["id"] == report["id"]


def test_lineage_of_a_dataset_version_reaches_the_gate(served: Served) -> None:
    client, run_id = served.client, served.paused["id"]
    graph = client.get("/api/v1/lineage", params={"node": "dataset:events@1"}).json()
    assert graph["root"].startswith("dataset_version:")
    nodes = {node["node"]: node for node in graph["nodes"]}
    assert f"step_run:{run_id}/check" in nodes
    assert nodes[graph["root"]]["label"] == "events@1"
    assert graph["truncated"] is False
    upstream = client.get(
        "/api/v1/lineage",
        params={"node": f"step_run:{run_id}/check", "direction": "upstream", "depth": 1},
    ).json()
    assert all(node["depth"] <= 0 for node in upstream["nodes"])
    assert any(node["label"] == "events@1" for node in upstream["nodes"])


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/api/v1/pipeline-runs", {"limit": 0}, 422, "query.limit"),
        ("/api/v1/pipeline-runs", {"limit": "many"}, 422, "query.limit"),
        ("/api/v1/pipeline-runs", {"offset": -1}, 422, "query.offset"),
        ("/api/v1/pipeline-runs", {"status": "DONE"}, 422, "query.status"),
        ("/api/v1/pipeline-runs/nope", {}, 404, None),
        ("/api/v1/pipeline-runs/nope/steps/pick/logs", {}, 404, None),
        ("/api/v1/alerts", {"limit": 100_000}, 422, "query.limit"),
        ("/api/v1/alerts", {"subject": "nokind"}, 400, "node"),
        ("/api/v1/alerts/0", {}, 422, "path.alert_id"),
        ("/api/v1/alerts/999", {}, 404, None),
        ("/api/v1/datasets/nope", {}, 404, None),
        ("/api/v1/datasets/ref/versions/7", {}, 404, "ref"),
        ("/api/v1/datasets/ref/versions/v1", {}, 400, "version"),
        ("/api/v1/datasets/ref/versions/1/profile", {"bins": 0}, 422, "query.bins"),
        ("/api/v1/lineage", {}, 422, "query.node"),
        ("/api/v1/lineage", {"node": "dataset:nope@1"}, 404, None),
        ("/api/v1/lineage", {"node": "thing:1"}, 400, "node"),
        ("/api/v1/lineage", {"node": "dataset:ref@1", "depth": 0}, 422, "query.depth"),
        ("/api/v1/lineage", {"node": "dataset:ref@1", "direction": "up"}, 422, "query.direction"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(
    served: Served, path: str, params: dict[str, Any], status: int, field: str | None
) -> None:
    _error(served.client.get(path, params=params), status, field)


def test_bad_writes_are_refused(served: Served) -> None:
    client, run_id = served.client, served.paused["id"]
    body = _error(
        client.post(f"/api/v1/pipeline-runs/{run_id}/resume", json={"accept": "perhaps"}), 422
    )
    assert body["field"] == "body.accept"
    _error(
        client.post(f"/api/v1/pipeline-runs/{run_id}/resume", json={"later": 1}), 422, "body.later"
    )
    _error(client.post("/api/v1/pipeline-runs/nope/resume", json={}), 404)
    _error(client.post("/api/v1/alerts/999/accept", json={}), 404)


def test_resume_with_accept_runs_to_success_and_a_second_resume_is_refused(
    served: Served,
) -> None:
    client = served.client
    run_id = _pipelines.run_cli(served.folder, served.settings, "gated")["id"]
    [alert] = client.get("/api/v1/alerts", params={"subject": f"step_run:{run_id}/check"}).json()
    started = client.post(f"/api/v1/pipeline-runs/{run_id}/resume", json={"accept": True})
    assert started.status_code == 202, started.text
    assert started.json()["id"] == run_id

    def finished() -> bool:
        status = client.get(f"/api/v1/pipeline-runs/{run_id}").json()["status"]
        return status not in ("PAUSED", "RUNNING")

    _pipelines.wait_until(finished)
    run = client.get(f"/api/v1/pipeline-runs/{run_id}").json()
    assert run["status"] == "SUCCEEDED", run["error"]
    assert run["resumes"] == 1
    assert {step["status"] for step in run["steps"]} == {"SUCCEEDED"}
    closed = client.get(f"/api/v1/alerts/{alert['id']}").json()
    assert closed["status"] == "ACCEPTED"
    # Closed already: accepting again is a conflict; so is resuming a SUCCEEDED run.
    _error(client.post(f"/api/v1/alerts/{alert['id']}/accept", json={}), 409)
    body = _error(client.post(f"/api/v1/pipeline-runs/{run_id}/resume", json={}), 409)
    assert "SUCCEEDED" in body["message"]


def test_a_resume_that_cannot_begin_is_refused_with_its_reason(served: Served) -> None:
    moved = _pipelines.write_module(served.folder.parent / "moved")
    run_id = _pipelines.run_cli(moved, served.settings, "gated")["id"]
    (moved / f"{_pipelines.MODULE}.py").unlink()
    refused = served.client.post(f"/api/v1/pipeline-runs/{run_id}/resume", json={"accept": True})
    assert "cannot import" in _error(refused, 409)["message"]
    assert served.client.get(f"/api/v1/pipeline-runs/{run_id}").json()["status"] == "PAUSED"


def test_with_auth_a_viewer_reads_runs_but_may_not_resume_or_accept(served: Served) -> None:
    from kiln import auth

    run_id = served.paused["id"]
    secured = Context(served.settings.model_copy(update={"auth": True}))
    db = secured.db
    db.run(auth.create_user, "watcher")
    db.run(auth.set_member, "default", "watcher", auth.Role.VIEWER)
    secret = db.run(auth.create_token, "watcher", "default", name="read-only").secret
    [alert] = served.client.get(
        "/api/v1/alerts", params={"subject": f"step_run:{run_id}/check"}
    ).json()
    try:
        with BackgroundServer(create_app(secured)) as url:
            headers = {"Authorization": f"Bearer {secret}", "X-Kiln-Project": "default"}
            with httpx.Client(base_url=url, headers=headers, timeout=30) as viewer:
                assert viewer.get(f"/api/v1/pipeline-runs/{run_id}").status_code == 200
                _error(viewer.post(f"/api/v1/pipeline-runs/{run_id}/resume", json={}), 403)
                _error(viewer.post(f"/api/v1/alerts/{alert['id']}/accept", json={}), 403)
            with httpx.Client(base_url=url, timeout=30) as anonymous:
                _error(anonymous.post(f"/api/v1/pipeline-runs/{run_id}/resume", json={}), 401)
    finally:
        secured.close()
    assert served.client.get(f"/api/v1/pipeline-runs/{run_id}").json()["status"] == "PAUSED"
    assert served.client.get(f"/api/v1/alerts/{alert['id']}").json()["status"] == "OPEN"
