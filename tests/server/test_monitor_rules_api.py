"""``/api/v1/monitors/{monitor}/rules`` over real HTTP: add, read, disable, delete; 4xx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from kiln import auth
from kiln.config import Settings
from kiln.context import Context
from kiln.data import _service
from kiln.server import create_app
from kiln.server.background import BackgroundServer
from tests.monitoring.test_monitors import reference

pytestmark = pytest.mark.timeout(120)

RULES = "/api/v1/monitors/claims-watch/rules"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    home = tmp_path_factory.mktemp("monitor-rules-api")
    context = Context(Settings(home=home, project="default"))
    context.db.run(auth.ensure_project, "default")
    _service.register(context.db, context.artifacts, "default", reference(500), "claims")
    server = BackgroundServer(create_app(context))
    with httpx.Client(base_url=server.start(), timeout=60) as http:
        try:
            made = http.post("/api/v1/profiles", json={"name": "ref", "source": "claims@1"})
            assert made.status_code == 201, made.text
            body = {"name": "claims-watch", "target_kind": "dataset", "target": "claims"}
            created = http.post("/api/v1/monitors", json=body | {"spec": {"profile": "ref"}})
            assert created.status_code == 201, created.text
            yield http
        finally:
            server.stop()
            context.close()


def test_a_rule_is_added_read_disabled_and_deleted(client: httpx.Client) -> None:
    secret = {"kind": "webhook", "url": "https://hooks.example.com/x", "headers": {"X-T": "s3"}}
    added = client.post(
        RULES,
        json={"name": "drift", "condition": "drift.share > 0.3", "severity": "critical",
              "sinks": [secret], "pipeline": "flows:retrain", "pipeline_params": {"k": 1}},
    )  # fmt: skip
    assert added.status_code == 201, added.text
    rule = added.json()
    assert (rule["metric"], rule["operator"], rule["threshold"]) == ("drift.share", ">", 0.3)
    assert "s3" not in added.text  # header values are masked
    split = client.post(
        RULES, json={"name": "f1", "metric": "performance.f1", "operator": "<", "threshold": 0.8}
    )
    assert split.status_code == 201, split.text
    assert [r["name"] for r in client.get(RULES).json()["rules"]] == ["drift", "f1"]
    assert client.post(RULES, json={"name": "f1", "condition": "rows > 1"}).status_code == 409
    off = client.patch(f"{RULES}/drift", json={"enabled": False})
    assert off.json()["enabled"] is False
    assert client.get(f"{RULES}/drift").json()["enabled"] is False
    assert client.delete(f"{RULES}/drift").status_code == 204
    assert client.get(f"{RULES}/drift").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "r", "condition": "drift.share >> 1"}, "condition"),
        ({"name": "r"}, "condition"),
        ({"name": "r", "condition": "rows > 1", "metric": "rows"}, "condition"),
        ({"name": "r", "condition": "rows > 1", "severity": "loud"}, "severity"),
        ({"name": "r", "condition": "rows > 1", "pipeline": "not a target"}, "pipeline"),
        ({"name": "bad name", "condition": "rows > 1"}, "name"),
    ],
)
def test_bad_rules_are_4xx_naming_the_field(
    client: httpx.Client, body: dict[str, object], field: str
) -> None:
    answer = client.post(RULES, json=body)
    assert 400 <= answer.status_code < 500, answer.text
    assert field in answer.text


def test_an_unknown_monitor_is_404(client: httpx.Client) -> None:
    assert client.get("/api/v1/monitors/nope/rules").status_code == 404
