"""The deployments REST API over real HTTP: create, list, describe with history, set traffic,
roll back; stats from a prediction log written by the real ``PredictionLog`` (counts per
bucket, latency percentiles, errors, shadow agreement with float tolerance); labels; every
bad input a 4xx naming the field, never a 500; viewers read, editors change; the audit log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kiln import auth
from kiln.config import Settings
from kiln.context import Context
from kiln.server import create_app
from kiln.server.background import BackgroundServer
from kiln.serving._prediction_log import PredictionLog, PredictionRecord
from kiln.serving._predictions_labels import labels_of

pytestmark = pytest.mark.timeout(120)

API = "/api/v1/deployments"
SPLIT = {"arms": [{"name": "scorer/1", "weight": 90}, {"name": "scorer/2", "weight": 10}]}
#: The start of the log's hour: requests fall in its first minutes.
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Context]]:
    home = tmp_path_factory.mktemp("deployments-api")
    context = Context(Settings(home=home, project="default"))
    context.db.run(auth.ensure_project, "default")
    _log(context)
    server = BackgroundServer(create_app(context))
    client = httpx.Client(base_url=server.start(), timeout=30)
    try:
        yield client, context
    finally:
        client.close()
        server.stop()
        context.close()


def _record(request_id: str, version: int, minute: float, outputs: Any, **extra: Any) -> Any:
    return PredictionRecord(
        request_id=request_id,
        deployment="logged",
        model="scorer",
        version=version,
        route=extra.pop("route", "primary"),
        inputs={"amount": [1.0]},
        outputs=outputs,
        n_rows=1,
        latency_ms=extra.pop("latency_ms", 10.0),
        time=T0 + timedelta(minutes=minute),
        **extra,
    )


def _log(context: Context) -> None:
    """Deployment ``logged``: 10 answers of v1 in minute 0-1 (latency 1..10 ms, two failed),
    4 of v2 in minute 2; shadow v3 answered 6 of v1's: 3 equal, 1 within 1e-9 relative, 2 not
    (one a different value, one a different length); and one shadow answer with no primary."""
    log = PredictionLog(context, project="default")
    for i in range(10):
        failed = i in (8, 9)
        log.record(
            _record(
                f"a{i}",
                1,
                i / 10 + (1 if i >= 5 else 0),
                {} if failed else {"predictions": [0.1 * i, 1.0]},
                latency_ms=float(i + 1),
                status=500 if i == 8 else 200,
                error="ValueError: boom" if failed else None,
            )
        )
    for i in range(4):
        log.record(_record(f"b{i}", 2, 2 + i / 10, {"predictions": ["yes"]}, latency_ms=20.0))
    shadow_outputs = [
        [0.0, 1.0],
        [0.1, 1.0],
        [0.2, 1.0],
        [0.1 * 3 * (1 + 1e-12), 1.0],
        [0.9, 1.0],
        [0.5],
    ]
    for i, values in enumerate(shadow_outputs):
        log.record(_record(f"a{i}", 3, i / 10, {"predictions": values}, route="shadow"))
    log.record(_record("lonely", 3, 0.5, {"predictions": [1.0]}, route="shadow"))
    log.flush()
    log.close()


def _error(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["message"]
    if field is not None:
        assert body.get("field") == field, body
    return body


def test_create_list_describe_set_traffic_and_roll_back(
    served: tuple[httpx.Client, Context],
) -> None:
    client, _ = served
    made = client.post(
        API,
        json={"name": "fraud", "policy": {"arms": ["scorer@champion"]}, "description": "cards"},
    )
    # One arm without a weight is refused: split weights must sum to 100.
    _error(made, 400, "policy.arms[0].weight")
    made = client.post(
        API,
        json={
            "name": "fraud",
            "policy": {"arms": [{"name": "scorer@champion", "weight": 100}]},
            "description": "cards",
        },
    )
    assert made.status_code == 201, made.text
    assert (made.json()["revision"], made.json()["description"]) == (1, "cards")
    assert made.json()["created_by"] == auth.LOCAL_USER

    moved = client.put(f"{API}/fraud/traffic", json={"policy": SPLIT, "note": "canary"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["revision"] == 2
    assert moved.json()["policy"]["arms"] == SPLIT["arms"]

    listed = client.get(API)
    assert listed.status_code == 200, listed.text
    assert "fraud" in [d["name"] for d in listed.json()["deployments"]]

    back = client.post(f"{API}/fraud/rollback", json={"note": "too soon"})
    assert back.status_code == 200, back.text
    assert back.json()["revision"] == 3
    assert back.json()["policy"]["arms"] == [{"name": "scorer@champion", "weight": 100.0}]
    again = client.post(f"{API}/fraud/rollback", json={"to_revision": 2})
    assert again.json()["revision"] == 4

    described = client.get(f"{API}/fraud")
    assert described.status_code == 200, described.text
    history = described.json()["history"]
    assert [(e["revision"], e["action"], e["note"]) for e in history] == [
        (4, "rollback", "back to revision 2"),
        (3, "rollback", "too soon"),
        (2, "set", "canary"),
        (1, "create", ""),
    ]
    assert history[1]["policy"]["arms"] == [{"name": "scorer@champion", "weight": 100.0}]
    datetime.fromisoformat(history[0]["created_at"])

    audit = client.get("/api/v1/audit", params={"action": "put_traffic"})
    assert audit.status_code == 200, audit.text
    (entry,) = audit.json()
    assert (entry["target"], entry["outcome"]) == ("deployment=fraud", "ok")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", API, {"name": "no spaces", "policy": SPLIT}, 400, "name"),
        ("POST", API, {"name": "x", "policy": {"arms": []}}, 400, "policy.arms"),
        ("POST", API, {"name": "x", "policy": {"arms": "a"}}, 400, "policy.arms"),
        ("POST", API, {"name": "x", "policy": {**SPLIT, "colour": 1}}, 400, "policy.colour"),
        (
            "POST",
            API,
            {"name": "x", "policy": {"arms": [{"name": "a", "weight": 60}, {"name": "b"}]}},
            400,
            "policy.arms[1].weight",
        ),
        (
            "POST",
            API,
            {"name": "x", "policy": {**SPLIT, "mode": "bandit", "bandit": {"algorithm": "x"}}},
            400,
            "policy.bandit.algorithm",
        ),
        ("POST", API, {"name": "x"}, 422, "body.policy"),
        ("POST", API, {"name": "x", "policy": SPLIT, "owner": "me"}, 422, "body.owner"),
        ("POST", API, {"name": "x", "policy": [1]}, 422, "body.policy"),
        (
            "PUT",
            f"{API}/bad/traffic",
            {"policy": {"arms": [{"name": "a", "weight": 50}]}},
            400,
            "policy.arms",
        ),
        ("PUT", f"{API}/bad/traffic", {"policy": SPLIT, "note": 3}, 422, "body.note"),
        ("POST", f"{API}/bad/rollback", {"to_revision": 5}, 400, "to_revision"),
        ("POST", f"{API}/bad/rollback", {"to_revision": 0}, 400, "to_revision"),
        ("POST", f"{API}/bad/rollback", {"to_revision": "two"}, 422, "body.to_revision"),
        ("POST", f"{API}/bad/labels", {"labels": {"r1": None}}, 400, "labels.r1"),
        ("POST", f"{API}/bad/labels", {"labels": [{"request_id": "r1"}]}, 400, "labels[0]"),
        ("POST", f"{API}/bad/labels", {"labels": 3}, 400, "labels"),
        ("POST", f"{API}/bad/labels", {}, 422, "body.labels"),
        ("GET", f"{API}/bad/stats?since=yesterday", None, 400, "since"),
        ("GET", f"{API}/bad/stats?since=0m", None, 400, "since"),
        ("GET", f"{API}/bad/stats?since=2026-01-01T00:00:00", None, 400, "since"),
        ("GET", f"{API}/bad/stats?bucket=soon", None, 400, "bucket"),
        ("GET", f"{API}/bad/stats?since=7d&bucket=1s", None, 400, "bucket"),
        ("GET", f"{API}/bad/stats?until=2026-01-01T00:00:00", None, 422, "query.until"),
        (
            "GET",
            f"{API}/bad/stats?since=2026-06-01T00:00:00Z&until=2026-05-01T00:00:00Z",
            None,
            400,
            "until",
        ),
        ("GET", f"{API}/{'x' * 129}", None, 422, "path.deployment"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(
    served: tuple[httpx.Client, Context],
    method: str,
    path: str,
    body: Any,
    status: int,
    field: str,
) -> None:
    client, _ = served
    if not client.get(f"{API}/bad").is_success:
        assert client.post(API, json={"name": "bad", "policy": SPLIT}).status_code == 201
    _error(client.request(method, path, json=body), status, field)


def test_unknown_deployments_are_404_and_names_taken_409(
    served: tuple[httpx.Client, Context],
) -> None:
    client, _ = served
    for method, path, body in (
        ("GET", f"{API}/nope", None),
        ("PUT", f"{API}/nope/traffic", {"policy": SPLIT}),
        ("POST", f"{API}/nope/rollback", {}),
        ("GET", f"{API}/nope/stats", None),
        ("POST", f"{API}/nope/labels", {"labels": {"r": 1}}),
    ):
        body_of = _error(client.request(method, path, json=body), 404, "name")
        assert "nope" in body_of["message"]
    assert client.post(API, json={"name": "taken", "policy": SPLIT}).status_code == 201
    _error(client.post(API, json={"name": "taken", "policy": SPLIT}), 409, "name")
    # Revision 1 has nothing before it.
    _error(client.post(f"{API}/taken/rollback", json={}), 400, "to_revision")


def test_stats_count_latency_errors_and_shadow_agreement(
    served: tuple[httpx.Client, Context],
) -> None:
    client, _ = served
    assert client.post(API, json={"name": "logged", "policy": SPLIT}).status_code == 201
    response = client.get(
        f"{API}/logged/stats",
        params={"since": T0.isoformat(), "until": (T0 + timedelta(hours=1)).isoformat()},
    )
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["bucket_seconds"] == 60
    assert len(stats["buckets"]) == 60
    assert stats["buckets"][0] == T0.isoformat()
    assert (stats["requests"], stats["errors"]) == (14, 2)
    arms = {(a["route"], a["version"]): a for a in stats["arms"]}
    assert list(arms) == [("primary", 1), ("primary", 2), ("shadow", 3)]
    v1 = arms[("primary", 1)]
    assert (v1["requests"], v1["errors"], v1["error_rate"]) == (10, 2, 0.2)
    assert v1["counts"][:3] == [5, 5, 0]
    # Latencies 1..10 ms: numpy's linear interpolation of the percentiles.
    assert v1["latency_ms"] == {"p50": 5.5, "p95": pytest.approx(9.55), "p99": pytest.approx(9.91)}
    assert arms[("primary", 2)]["counts"][2] == 4
    assert arms[("shadow", 3)]["requests"] == 7

    (shadow,) = stats["shadows"]
    assert shadow["shadow"] == {"model": "scorer", "version": 3}
    assert shadow["primary"] == {"model": "scorer", "version": 1}
    assert (shadow["compared"], shadow["agreed"]) == (6, 4)
    assert [e["request_id"] for e in shadow["examples"]] == ["a4", "a5"]
    assert shadow["examples"][0]["primary"] == {"predictions": [0.4, 1.0]}
    assert shadow["examples"][0]["shadow"] == {"predictions": [0.9, 1.0]}
    assert stats["unmatched_shadows"] == 1

    narrow = client.get(
        f"{API}/logged/stats",
        params={
            "since": (T0 + timedelta(minutes=2)).isoformat(),
            "until": (T0 + timedelta(minutes=4)).isoformat(),
            "bucket": "30s",
        },
    ).json()
    assert (narrow["requests"], narrow["bucket_seconds"], narrow["shadows"]) == (4, 30, [])
    assert narrow["arms"][0]["counts"] == [4, 0, 0, 0]

    recent = client.get(f"{API}/logged/stats", params={"since": "1h"}).json()
    assert (recent["requests"], recent["arms"], recent["shadows"]) == (0, [], [])


def test_labels_are_posted_by_request_id(served: tuple[httpx.Client, Context]) -> None:
    client, context = served
    assert client.post(API, json={"name": "labelled", "policy": SPLIT}).status_code == 201
    posted = client.post(f"{API}/labelled/labels", json={"labels": {"r1": 1, "r2": [0, 1]}})
    assert posted.status_code == 200, posted.text
    assert posted.json() == {"deployment": "labelled", "added": 2, "replaced": 0}
    again = client.post(
        f"{API}/labelled/labels", json={"labels": [{"request_id": "r1", "label": "fraud"}]}
    )
    assert again.json() == {"deployment": "labelled", "added": 0, "replaced": 1}
    found = context.db.read(labels_of, "default", "labelled", ["r1", "r2", "r3"])
    assert found == {"r1": "fraud", "r2": [0, 1]}


@pytest.fixture
def secured(
    make_context: Callable[..., Context],
    sqlite_url: str,
    serve: Callable[[Context], httpx.Client],
) -> tuple[httpx.Client, dict[str, str]]:
    """``--auth`` over a project ``shop`` with deployment ``fraud``, an editor and a viewer."""
    context = make_context(database_url=sqlite_url, auth=True)
    db = context.db
    db.run(auth.create_project, "shop")
    tokens = {}
    for name, role in (("eve", "editor"), ("vic", "viewer")):
        db.run(auth.create_user, name)
        db.run(auth.set_member, "shop", name, role)
        tokens[name] = db.run(auth.create_token, name, "shop").secret
    from kiln.serving._deployments import create_deployment

    db.run(create_deployment, "shop", "fraud", SPLIT, user="seed")
    return serve(context), tokens


def test_viewers_read_editors_change(secured: tuple[httpx.Client, dict[str, str]]) -> None:
    client, tokens = secured

    def call(user: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {tokens[user]}"} if user else {}
        return client.request(method, path, headers=headers, **kw)

    assert call(None, "GET", API).status_code == 401
    assert call("vic", "GET", API).json()["deployments"][0]["name"] == "fraud"
    assert call("vic", "GET", f"{API}/fraud").status_code == 200
    assert call("vic", "GET", f"{API}/fraud/stats").status_code == 200
    changes = (
        ("PUT", f"{API}/fraud/traffic", {"policy": SPLIT}),
        ("POST", f"{API}/fraud/rollback", {}),
        ("POST", API, {"name": "other", "policy": SPLIT}),
        ("POST", f"{API}/fraud/labels", {"labels": {"r": 1}}),
    )
    for method, path, body in changes:
        denied = call("vic", method, path, json=body)
        assert denied.status_code == 403, (path, denied.text)
        assert "viewer" in denied.json()["message"]
    moved = call("eve", "PUT", f"{API}/fraud/traffic", json={"policy": SPLIT, "note": "same"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["revision"] == 2
    history = call("vic", "GET", f"{API}/fraud").json()["history"]
    assert [(e["revision"], e["created_by"]) for e in history] == [(2, "eve"), (1, "seed")]
