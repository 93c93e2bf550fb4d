"""The tracking REST API over real HTTP: happy paths, and bad input as 4xx naming the field."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from kiln.context import Context

Serve = Callable[[object], httpx.Client]


@pytest.fixture
def client(context: Context, serve: Serve) -> httpx.Client:
    return serve(context)


def _run(client: httpx.Client) -> str:
    experiment = client.post("/api/v1/experiments/ensure", json={"name": "api"}).json()
    response = client.post("/api/v1/runs", json={"experiment_id": experiment["id"]})
    assert response.status_code == 201
    return str(response.json()["id"])


def test_log_and_read_back(client: httpx.Client) -> None:
    run_id = _run(client)
    batch = {
        "metrics": [
            {"key": "loss", "value": 0.5, "step": 1, "timestamp": 10},
            {"key": "odd", "value": "NaN", "step": 0, "timestamp": 10},
            {"key": "big", "value": "Infinity", "step": 0, "timestamp": 10},
        ],
        "params": [{"key": "lr", "value": "0.1"}],
        "tags": [{"key": "team", "value": "fraud"}],
    }
    assert client.post(f"/api/v1/runs/{run_id}/batch", json=batch).status_code == 204
    run = client.get(f"/api/v1/runs/{run_id}").json()
    assert run["params"] == {"lr": "0.1"}
    assert run["metrics"]["odd"]["value"] == "NaN"
    assert run["metrics"]["big"]["value"] == "Infinity"
    assert run["metrics"]["loss"]["value"] == 0.5
    history = client.get(f"/api/v1/runs/{run_id}/metrics/loss").json()
    assert history == [{"key": "loss", "value": 0.5, "step": 1, "timestamp": 10}]
    found = client.post(
        "/api/v1/runs/search", json={"filter": "params.lr = '0.1'", "order_by": ["metrics.loss"]}
    ).json()
    assert [r["id"] for r in found["runs"]] == [run_id]
    ended = client.patch(f"/api/v1/runs/{run_id}", json={"status": "FINISHED"}).json()
    assert ended["status"] == "FINISHED"
    assert ended["end_time"] is not None


def test_artifacts_stream_both_ways(client: httpx.Client) -> None:
    run_id = _run(client)
    body = b"x" * (3 * 1024 * 1024 + 7)
    put = client.put(f"/api/v1/runs/{run_id}/artifacts/data/blob.bin", content=body)
    assert put.status_code == 200
    assert put.json()["size"] == len(body)
    listed = client.get(f"/api/v1/runs/{run_id}/artifacts", params={"prefix": "data"}).json()
    assert [a["path"] for a in listed] == ["data/blob.bin"]
    got = client.get(f"/api/v1/runs/{run_id}/artifact-content/data/blob.bin")
    assert got.content == body
    assert got.headers["etag"] == f'"{put.json()["digest"]}"'


@pytest.mark.parametrize(
    ("batch", "field"),
    [
        ({"metrics": [{"key": "m", "value": "high", "timestamp": 1}]}, "body.metrics.0.value"),
        ({"metrics": [{"key": "m", "value": 1.0}]}, "body.metrics.0.timestamp"),
        ({"metrics": [{"key": "../m", "value": 1.0, "timestamp": 1}]}, "metrics.key"),
        ({"params": [{"key": "", "value": "v"}]}, "params.key"),
        ({"params": [{"key": "p", "value": "x" * 6001}]}, "params.value"),
        ({"tags": [{"key": "a\\b", "value": "v"}]}, "tags.key"),
        ({"metrics": [{"key": "m", "value": 1, "timestamp": 1}] * 1001}, "body.metrics"),
        ({"unknown": []}, "body.unknown"),
    ],
)
def test_bad_batches_are_4xx_naming_the_field(
    client: httpx.Client, batch: dict[str, object], field: str
) -> None:
    run_id = _run(client)
    response = client.post(f"/api/v1/runs/{run_id}/batch", json=batch)
    assert response.status_code in (400, 422), response.text
    assert response.json()["field"] == field
    assert client.get(f"/api/v1/runs/{run_id}").json()["metrics"] == {}  # nothing half-written


def test_unknown_things_are_404_and_conflicts_409(client: httpx.Client) -> None:
    assert client.get("/api/v1/runs/nope").status_code == 404
    assert client.get("/api/v1/experiments/424242").status_code == 404
    run_id = _run(client)
    client.patch(f"/api/v1/runs/{run_id}", json={"status": "FINISHED"})
    late = client.post(
        f"/api/v1/runs/{run_id}/batch",
        json={"metrics": [{"key": "m", "value": 1, "timestamp": 1}]},
    )
    assert late.status_code == 409
    assert "FINISHED" in late.json()["message"]


def test_malformed_filters_point_at_the_token(client: httpx.Client) -> None:
    response = client.post("/api/v1/runs/search", json={"filter": "metrics.auc > 1 AND AND"})
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "filter"
    assert "'AND' at position 20" in body["message"]


def test_viewer_cannot_log(make_context: Callable[..., Context], serve: Serve) -> None:
    from kiln import auth

    context = make_context(auth=True)
    context.db.run(auth.create_user, "vic")
    context.db.run(auth.set_member, "default", "vic", "viewer")
    secret = context.db.run(auth.create_token, "vic", "default").secret
    client = serve(context)
    headers = {"Authorization": f"Bearer {secret}"}
    denied = client.post("/api/v1/experiments", json={"name": "x"}, headers=headers)
    assert denied.status_code == 403
    assert client.get("/api/v1/experiments", headers=headers).status_code == 200
