"""The feature store's REST API over real HTTP: the catalog, describe, online reads after a
real materialization, pushes; every bad body a 4xx naming the field, never a 500; roles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from kiln import auth
from kiln.config import Settings
from kiln.context import Context
from kiln.features import FeatureStore
from kiln.server import create_app
from kiln.server.background import BackgroundServer
from tests.features import _seed

pytestmark = pytest.mark.timeout(300)

ONLINE = "/api/v1/features/online"
PUSH = "/api/v1/features/push"
T = "2026-01-01T00:00:00Z"


class Served:
    def __init__(self, client: httpx.Client, settings: Settings, seed: _seed.FeatureSeed):
        self.client = client
        self.settings = settings
        self.seed = seed

    def online(self, **body: Any) -> httpx.Response:
        return self.client.post(ONLINE, json=body)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("features-api")
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'kiln.db'}",
        artifact_root=str(home / "artifacts"),
        project="default",
    )
    seed = _seed.seed_features(settings, home / "data")
    server = BackgroundServer(create_app(Context(settings)))
    client = httpx.Client(base_url=server.start(), timeout=30)
    try:
        yield Served(client, settings, seed)
    finally:
        client.close()
        server.stop()


def _error(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["message"]
    if field is not None:
        assert body.get("field") == field, body
    return body


def test_the_catalog_lists_and_searches(served: Served) -> None:
    listed = served.client.get("/api/v1/features")
    assert listed.status_code == 200, listed.text
    assert [(e["kind"], e["name"]) for e in listed.json()] == [
        ("entity", "customer"),
        ("entity", "merchant"),
        ("feature_view", "clicks"),
        ("feature_view", "customer_stats"),
        ("feature_view", "merchant_risk"),
        ("on_demand_view", "spend_share"),
        ("feature_service", "fraud"),
    ]
    share = next(e for e in listed.json() if e["name"] == "spend_share")
    assert share["related"] == ["customer_stats"]
    assert share["join_keys"] == {"customer_id": "int64"}
    assert [(f["name"], f["dtype"]) for f in share["features"]] == [("amount_share", "float64")]
    stats = next(e for e in listed.json() if e["name"] == "customer_stats")
    assert stats["version"] == 2
    assert stats["owner"] == "risk-team"
    assert stats["tags"] == {"team": "risk"}
    assert [f["name"] for f in stats["features"]] == ["spend", "segment", "active"]
    newest = datetime.fromisoformat(stats["newest_event"])
    assert newest == served.seed.now - timedelta(hours=2)
    assert stats["materialized_at"] is not None
    assert stats["consumers"] == ["churn-scorer/1", "risk-scorer/1"]

    def names(q: str) -> list[str]:
        response = served.client.get("/api/v1/features", params={"q": q})
        assert response.status_code == 200, response.text
        return [e["name"] for e in response.json()]

    assert names("owner:fraud-team") == ["merchant", "merchant_risk"]
    assert names("tag:team=risk") == ["customer_stats"]
    assert names("SPENDING") == ["customer_stats"]
    assert names("model:risk-scorer kind:service") == ["fraud"]
    assert names("pushed web") == ["clicks"]
    assert names("kind:on-demand") == ["spend_share"]
    assert names("spend_share:amount_share") == ["spend_share"]
    assert names("nothing-like-it") == []
    _error(served.client.get("/api/v1/features", params={"q": "x" * 501}), 422, "query.q")


def test_describe_a_view_a_service_and_an_entity(served: Served) -> None:
    view = served.client.get("/api/v1/features/views/customer_stats")
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["schema"]["join_keys"] == {"customer_id": "int64"}
    assert body["schema"]["ttl_seconds"] == 24 * 3600
    assert body["schema"]["source"]["kind"] == "parquet"
    assert [v["version"] for v in body["versions"]] == [2, 1]
    assert body["versions"][0]["changed"] == ["ttl_seconds"]
    (done,) = body["materializations"]
    assert (done["status"], done["keys_written"], done["rows_read"]) == ("COMPLETED", 2, 4)
    # Customers 1 (12.5, active) and 2 (40.0, inactive) were written.
    assert body["statistics"]["spend"]["max"] == 40.0
    assert body["statistics"]["active"]["true_share"] == 0.5
    assert list(body["statistics"]) == ["spend", "segment", "active"]
    assert body["freshness"]["expired"] is False
    uses = {c["uri"]: c["views"]["customer_stats"] for c in body["consumers"]}
    assert uses == {
        "models:/churn-scorer/1": {"version": 2, "current": True},
        "models:/risk-scorer/1": {"version": 1, "current": False},
    }
    service = served.client.get("/api/v1/features/services/fraud").json()
    assert [v["name"] for v in service["views"]] == ["customer_stats", "merchant_risk"]
    assert service["consumer_labels"] == ["risk-scorer/1"]
    share = served.client.get("/api/v1/features/on-demand-views/spend_share").json()
    assert share["schema"]["views"] == ["customer_stats"]
    amount = {"name": "amount", "dtype": "float64", "description": ""}
    assert share["schema"]["request"] == [{"request": "payment", "schema": [amount]}]
    assert share["schema"]["transform"]["name"] == "amount_share"
    assert "def amount_share" in share["schema"]["code"]
    # Fresh as its input view, which was materialized; nothing of its own is stored.
    assert share["freshness"]["newest_event"] == body["freshness"]["newest_event"]
    entity = served.client.get("/api/v1/features/entities/merchant").json()
    assert entity["views"] == ["merchant_risk"]

    missing = _error(served.client.get("/api/v1/features/views/customer_stat"), 404)
    assert "did you mean customer_stats" in missing["message"]
    _error(served.client.get("/api/v1/features/services/customer_stats"), 404)
    _error(served.client.get("/api/v1/features/tables/customer_stats"), 400, "kind")
    _error(served.client.get("/api/v1/features/views/" + "x" * 200), 422, "path.name")


def test_an_online_read_after_a_real_materialization(served: Served) -> None:
    response = served.online(
        features=["customer_stats:spend", "customer_stats:active", "merchant_risk:risk"],
        entities={"customer_id": [1, 2, 3], "merchant_id": ["m1", "m2", "zz"]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["feature_names"] == ["customer_id", "merchant_id", "spend", "active", "risk"]
    keys, merchants, spend, active, risk = body["results"]
    assert keys == {"values": [1, 2, 3]}
    assert merchants == {"values": ["m1", "m2", "zz"]}
    assert spend["values"] == [12.5, 40.0, None]
    # Customer 3's newest row was beyond the ttl when materialized: never written.
    assert spend["statuses"] == ["present", "present", "missing"]
    assert active["values"] == [True, False, None]
    assert datetime.fromisoformat(spend["event_timestamps"][0]) == served.seed.now - timedelta(
        hours=2
    )
    assert risk["values"] == [0.25, 0.75, None]

    rows = served.online(
        feature_service="fraud",
        entities=[{"customer_id": 2, "merchant_id": "m1"}],
        full_feature_names=True,
    )
    assert rows.status_code == 200, rows.text
    assert rows.json()["feature_names"] == [
        "customer_id",
        "merchant_id",
        "customer_stats__spend",
        "customer_stats__segment",
        "customer_stats__active",
        "merchant_risk__risk",
    ]
    assert rows.json()["results"][3]["values"] == ["silver"]


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        ({"entities": {"customer_id": [1]}}, 400, "features", "either features"),
        (
            {"features": ["customer_stats:spend"], "feature_service": "fraud", "entities": []},
            400,
            "features",
            "not both",
        ),
        ({"features": ["customer_stats:spend"]}, 422, "body.entities", "required"),
        ({"features": "customer_stats:spend", "entities": {}}, 422, "body.features", ""),
        ({"features": [], "entities": {"customer_id": [1]}}, 400, "features", "references"),
        ({"features": ["customer_stats"], "entities": {"customer_id": [1]}}, 400, "features", ""),
        (
            {"features": ["customer_stats:spnd"], "entities": {"customer_id": [1]}},
            404,
            None,
            "did you mean spend",
        ),
        (
            {"features": ["customer_stat:spend"], "entities": {"customer_id": [1]}},
            404,
            None,
            "did you mean customer_stats",
        ),
        ({"feature_service": "fruad", "entities": {"customer_id": [1]}}, 404, None, "fraud"),
        ({"features": ["customer_stats:spend"], "entities": "1"}, 400, "entities", "object"),
        ({"features": ["customer_stats:spend"], "entities": 7}, 400, "entities", "list"),
        (
            {"features": ["customer_stats:spend"], "entities": [{"customer_id": 1}, 2]},
            400,
            "entities[1]",
            "object of join keys",
        ),
        (
            {"features": ["customer_stats:spend"], "entities": {"customer_id": 1}},
            400,
            "entities.customer_id",
            "list",
        ),
        (
            {"features": ["customer_stats:spend"], "entities": {"customer_id": ["abc"]}},
            400,
            "entities.customer_id[0]",
            "integer",
        ),
        (
            {"features": ["customer_stats:spend"], "entities": {"customer_id": [1.5]}},
            400,
            "customer_id",
            "integer",
        ),
        (
            {"features": ["merchant_risk:risk"], "entities": {"merchant_id": [7]}},
            400,
            "merchant_id",
            "text",
        ),
        (
            {"features": ["customer_stats:spend"], "entities": {"merchant_id": ["m1"]}},
            400,
            "entities.customer_id",
            "customer_id",
        ),
        (
            {
                "features": ["customer_stats:spend", "merchant_risk:risk"],
                "entities": {"customer_id": [1, 2], "merchant_id": ["m1"]},
            },
            400,
            "entities",
            "different lengths",
        ),
        (
            {
                "features": ["customer_stats:spend"],
                "entities": {"customer_id": list(range(10_001))},
            },
            400,
            "entities",
            "at most 10,000",
        ),
        (
            {"features": ["customer_stats:spend"], "entities": [], "full_names": True},
            422,
            "body.full_names",
            "",
        ),
    ],
)
def test_bad_online_reads_are_4xx_naming_the_field(
    served: Served, body: dict[str, Any], status: int, field: str | None, words: str
) -> None:
    found = _error(served.client.post(ONLINE, json=body), status, field)
    assert words in found["message"]


def test_a_body_that_is_not_json_is_a_4xx(served: Served) -> None:
    response = served.client.post(
        ONLINE, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text


def test_push_then_read_it_online(served: Served) -> None:
    seen = datetime.now(UTC).replace(microsecond=0)
    pushed = served.client.post(
        PUSH,
        json={
            "view": "clicks",
            "rows": [
                {
                    "customer_id": 5,
                    "event_timestamp": (seen - timedelta(minutes=1)).isoformat(),
                    "count": 3,
                    "rate": 1,  # an integer where a float is declared: JSON cannot tell
                    "last_seen": seen.isoformat().replace("+00:00", "Z"),
                }
            ],
        },
    )
    assert pushed.status_code == 200, pushed.text
    assert pushed.json() == {"view": "clicks", "pushed": 1}
    assert list((served.seed.folder / "pushed").glob("*.parquet"))  # the offline log
    read = served.online(
        features=["clicks:count", "clicks:rate", "clicks:last_seen"],
        entities=[{"customer_id": 5}],
    ).json()
    count, rate, last_seen = read["results"][1:]
    assert (count["values"], count["statuses"]) == ([3], ["present"])
    assert rate["values"] == [1.0]
    assert datetime.fromisoformat(last_seen["values"][0]) == seen


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        ({"view": "clicks", "rows": []}, 400, "rows", "non-empty"),
        ({"view": "clicks", "rows": [3]}, 400, "rows[0]", "object"),
        ({"view": "clicks"}, 422, "body.rows", "required"),
        ({"view": "clickz", "rows": [{"customer_id": 1}]}, 404, None, "did you mean clicks"),
        (
            {"view": "customer_stats", "rows": [{"customer_id": 1}]},
            400,
            "view",
            "only views with a PushSource",
        ),
        (
            {"view": "clicks", "rows": [{"customer_id": 1, "event_timestamp": "yesterday"}]},
            400,
            "rows[0].event_timestamp",
            "ISO 8601",
        ),
        (
            {"view": "clicks", "rows": [{"customer_id": 1, "event_timestamp": T, "cuont": 1}]},
            400,
            "rows[0].cuont",
            "does not declare",
        ),
        ({"view": "clicks", "rows": [{"event_timestamp": T}]}, 400, "rows[0].customer_id", "lacks"),
        (
            {"view": "clicks", "rows": [{"customer_id": "one", "event_timestamp": T}]},
            400,
            "rows[0].customer_id",
            "integer",
        ),
        (
            {"view": "clicks", "rows": [{"customer_id": 1, "event_timestamp": T, "rate": "x"}]},
            400,
            "rows[0].rate",
            "must be float64",
        ),
    ],
)
def test_bad_pushes_are_4xx_naming_the_field(
    served: Served, body: dict[str, Any], status: int, field: str | None, words: str
) -> None:
    found = _error(served.client.post(PUSH, json=body), status, field)
    assert words in found["message"]


def test_the_servers_store_sees_an_apply_made_after_it_started(served: Served) -> None:
    before = served.online(features=["merchant_risk:risk"], entities={"merchant_id": ["m1"]})
    assert before.status_code == 200
    context = Context(served.settings)
    try:
        store = FeatureStore(context)
        changed = _seed.definitions(served.seed.folder)
        merchants = changed.views["merchant_risk"]
        from dataclasses import replace

        changed.views["merchant_risk"] = replace(merchants, owner="someone-else")
        store.apply(changed)
        store.close()
    finally:
        context.close()
    described = served.client.get("/api/v1/features/views/merchant_risk").json()
    assert (described["version"], described["owner"]) == (2, "someone-else")
    gone = served.online(features=["customer_stats:spend"], entities={"customer_id": [1]})
    assert gone.status_code == 200


def test_a_skew_check_of_a_view(served: Served) -> None:
    checked = served.client.get("/api/v1/features/views/customer_stats/skew", params={"seed": 3})
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert (body["ok"], body["sample"], body["seed"]) == (True, 100, 3)
    (view,) = body["views"]
    # Customers 1 and 2 are served at the watermark; customer 3 was beyond the ttl.
    assert (view["view"], view["population"], view["sampled"]) == ("customer_stats", 2, 2)
    assert view["keys"] == [{"customer_id": 1}, {"customer_id": 2}]
    assert view["values_compared"] == 6
    assert view["details"] == []
    one = served.client.get("/api/v1/features/views/customer_stats/skew", params={"sample": 1})
    assert one.json()["views"][0]["sampled"] == 1

    skew = "/api/v1/features/views/{}/skew"
    for params, status, field in [
        ({"sample": 0}, 400, "sample"),
        ({"sample": 20_000}, 400, "sample"),
        ({"tolerance": -1}, 400, "tolerance"),
        ({"sample": "many"}, 422, "query.sample"),
    ]:
        _error(served.client.get(skew.format("customer_stats"), params=params), status, field)
    missing = _error(served.client.get(skew.format("customer_stat")), 404)
    assert "did you mean customer_stats" in missing["message"]
    refused = _error(served.client.get(skew.format("spend_share")), 400, "views")
    assert "computed at read time" in refused["message"]


# -- roles ----------------------------------------------------------------------------------


@pytest.fixture
def secured(
    make_context: Callable[..., Context],
    sqlite_url: str,
    serve: Callable[[Context], httpx.Client],
    tmp_path: Path,
) -> tuple[httpx.Client, dict[str, str]]:
    """``--auth`` over a store whose features live in project ``fraud`` (not the default)."""
    context = make_context(database_url=sqlite_url, auth=True)
    db = context.db
    db.run(auth.create_project, "fraud")
    tokens = {}
    for name, role in (("eve", "editor"), ("vic", "viewer")):
        db.run(auth.create_user, name)
        db.run(auth.set_member, "fraud", name, role)
        tokens[name] = db.run(auth.create_token, name, "fraud").secret
    seeding = context.settings.model_copy(update={"project": "fraud", "auth": False})
    _seed.seed_features(seeding, tmp_path / "data")
    return serve(context), tokens


def test_viewers_read_editors_push_in_their_own_project(
    secured: tuple[httpx.Client, dict[str, str]],
) -> None:
    client, tokens = secured

    def call(
        user: str | None,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> httpx.Response:
        sent = {**(headers or {}), **({"Authorization": f"Bearer {tokens[user]}"} if user else {})}
        return client.request(method, path, headers=sent, **kw)

    read = {"features": ["customer_stats:spend"], "entities": {"customer_id": [1]}}
    push = {
        "view": "clicks",
        "rows": [
            {
                "customer_id": 1,
                "event_timestamp": datetime.now(UTC).isoformat(),
                "count": 1,
                "rate": 0.5,
                "last_seen": None,
            }
        ],
    }
    assert call(None, "GET", "/api/v1/features").status_code == 401
    assert call(None, "POST", ONLINE, json=read).status_code == 401
    listed = call("vic", "GET", "/api/v1/features")
    assert listed.status_code == 200, listed.text
    assert "customer_stats" in [e["name"] for e in listed.json()]
    online = call("vic", "POST", ONLINE, json=read)
    assert online.status_code == 200, online.text
    assert online.json()["results"][1]["values"] == [12.5]  # project fraud's store
    denied = call("vic", "POST", PUSH, json=push)
    assert denied.status_code == 403, denied.text
    assert "viewer" in denied.json()["message"]
    allowed = call("eve", "POST", PUSH, json=push)
    assert allowed.status_code == 200, allowed.text
    after = call("vic", "POST", ONLINE, json={**read, "features": ["clicks:count"]})
    assert after.json()["results"][1]["values"] == [1]
    other = call("vic", "GET", "/api/v1/features", headers={"X-Kiln-Project": "default"})
    assert other.status_code == 403
