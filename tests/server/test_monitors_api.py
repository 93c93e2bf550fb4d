"""The monitoring REST API over real HTTP: a profile from a dataset version, a monitor of a
deployment whose log the real ``PredictionLog`` wrote, evaluating it (one clean window, one
drifted), its windows as flat metrics and as full JSON, the report document and its page;
every bad input a 4xx naming the field, never a 500; viewers read, editors change."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from kiln import auth
from kiln.config import Settings
from kiln.context import Context
from kiln.data import _service
from kiln.server import create_app
from kiln.server.background import BackgroundServer
from tests.monitoring.test_monitors import START, log_requests, reference, shifted

pytestmark = pytest.mark.timeout(120)

API = "/api/v1/monitors"
UNTIL = START + timedelta(hours=2)
SPEC = {"profile": "fraud-ref", "window": "1h", "sensitive": ["city"]}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Context]]:
    home = tmp_path_factory.mktemp("monitors-api")
    context = Context(Settings(home=home, project="default"))
    context.db.run(auth.ensure_project, "default")
    _service.register(context.db, context.artifacts, "default", reference(), "fraud-data")
    log_requests(context, reference(600, seed=5), at=START, prefix="a")
    log_requests(context, shifted(reference(600, seed=6)), at=START + timedelta(hours=1))
    server = BackgroundServer(create_app(context))
    client = httpx.Client(base_url=server.start(), timeout=60)
    try:
        made = client.post("/api/v1/profiles", json={"name": "fraud-ref", "source": "fraud-data@1"})
        assert made.status_code == 201, made.text
        body = {"name": "fraud-watch", "target_kind": "deployment", "target": "fraud-api"}
        created = client.post(API, json=body | {"spec": SPEC, "description": "card fraud"})
        assert created.status_code == 201, created.text
        yield client, context
    finally:
        client.close()
        server.stop()
        context.close()


def _evaluate(client: httpx.Client) -> list[dict[str, Any]]:
    done = client.post(
        f"{API}/fraud-watch/evaluate",
        json={"since": START.isoformat(), "until": UNTIL.isoformat()},
    )
    assert done.status_code == 200, done.text
    found: list[dict[str, Any]] = done.json()["results"]
    return found


def test_profiles_are_listed_with_their_source(served: tuple[httpx.Client, Context]) -> None:
    client, _ = served
    found = client.get("/api/v1/profiles", params={"name": "fraud-ref"}).json()["profiles"]
    assert [(p["ref"], p["rows"]) for p in found] == [("fraud-ref@1", 4000)]
    assert found[0]["source"] == {"kind": "dataset_version", "name": "fraud-data@1"}
    assert found[0]["columns"] == ["amount", "age", "city", "predictions"]


def test_a_monitor_is_created_pinned_and_listed(served: tuple[httpx.Client, Context]) -> None:
    client, _ = served
    listed = client.get(API).json()["monitors"]
    assert [m["name"] for m in listed] == ["fraud-watch"]
    assert listed[0]["spec"]["profile"] == "fraud-ref@1"
    assert listed[0]["target"] == "fraud-api"
    assert listed[0]["created_by"] == auth.LOCAL_USER
    again = client.post(
        API,
        json={"name": "fraud-watch", "target_kind": "deployment", "target": "fraud-api",
              "spec": SPEC},
    )  # fmt: skip
    assert again.status_code == 409
    assert "replace" in again.json()["message"]


def test_evaluating_stores_a_clean_and_a_drifted_window(
    served: tuple[httpx.Client, Context],
) -> None:
    client, _ = served
    results = _evaluate(client)
    assert [(r["start"], r["rows"]) for r in results] == [
        (START.isoformat(), 600),
        ((START + timedelta(hours=1)).isoformat(), 600),
    ]
    clean, drifted = results
    assert clean["metrics"]["drift.drifted"] == 0
    assert drifted["metrics"]["drift.amount.drift"] == 1.0
    assert drifted["metrics"]["drift.share"] == pytest.approx(1 / 3)

    listed = client.get(f"{API}/fraud-watch/results", params={"since": START.isoformat()}).json()
    assert [r["digest"] for r in listed["results"]] == [r["digest"] for r in results]
    newest = client.get(f"{API}/fraud-watch/results", params={"limit": 1}).json()["results"]
    assert [r["start"] for r in newest] == [drifted["start"]]
    described = client.get(f"{API}/fraud-watch", params={"limit": 1}).json()
    assert described["description"] == "card fraud"
    assert [r["start"] for r in described["results"]] == [drifted["start"]]


def test_one_window_is_its_full_json(served: tuple[httpx.Client, Context]) -> None:
    client, _ = served
    drifted = _evaluate(client)[1]
    found = client.get(f"{API}/fraud-watch/windows/{drifted['start']}")
    assert found.status_code == 200, found.text
    assert found.headers["content-type"].startswith("application/json")
    window = found.json()
    assert window["start"] == drifted["start"]
    amount = window["drift"]["columns"]["amount"]
    assert amount["drift"] is True
    assert len(amount["histogram"]["edges"]) == len(amount["histogram"]["current"]) + 1
    assert window["drift"]["columns"]["city"]["categories"]["values"]
    assert window["quality"]["findings"][0]["check"] == "out_of_range"
    assert set(window["fairness"]["city"]["groups"]) == {"paris", "lyon", "nice"}
    # The same start written with another zone is the same window.
    other = (START + timedelta(hours=1)).astimezone().isoformat()
    assert client.get(f"{API}/fraud-watch/windows/{other}").json()["start"] == drifted["start"]
    missing = client.get(f"{API}/fraud-watch/windows/{(START - timedelta(days=1)).isoformat()}")
    assert missing.status_code == 404
    assert "results" in missing.json()["message"]


def test_the_report_document_and_its_page(served: tuple[httpx.Client, Context]) -> None:
    client, context = served
    _evaluate(client)
    from kiln.alerts import raise_alert

    context.db.run(
        raise_alert,
        "default",
        kind="monitor",
        severity="critical",
        title="fraud-watch: amount drifted",
        subject_kind="monitor",
        subject_id="fraud-watch",
        details={"rule": "drift.share > 0.2", "value": 0.333},
    )
    document = client.get(f"{API}/fraud-watch/report").json()
    assert document["kiln_monitor_report"] == 1
    assert document["subject"]["reference"]["name"] == "fraud-ref@1"
    assert len(document["windows"]) == 2
    assert [a["title"] for a in document["alerts"]] == ["fraud-watch: amount drifted"]
    page = client.get(f"{API}/fraud-watch/report.html")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.text.lower().startswith("<!doctype html>")
    assert "amount drifted" in page.text
    assert "<link" not in page.text
    assert " src=" not in page.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"spec": {"profile": "fraud-ref", "window": "soon"}}, "window"),
        ({"spec": {"profile": "fraud-ref", "windows": "1h"}}, "windows"),
        ({"spec": {"window": "1h"}}, "profile"),
        ({"spec": {"profile": "fraud-ref", "thresholds": 5}}, "spec"),
        ({"spec": {"profile": "fraud-ref", "task": "ranking"}}, "task"),
        ({"spec": {"profile": "no-such-ref"}}, None),
        ({"target_kind": "model"}, "target_kind"),
        ({"name": "has space"}, "name"),
        ({"spec": "fraud-ref"}, "body.spec"),
        ({"colour": "red"}, "body.colour"),
    ],
)
def test_bad_monitors_are_refused_naming_the_field(
    served: tuple[httpx.Client, Context], body: dict[str, Any], field: str | None
) -> None:
    client, _ = served
    base = {"name": "other", "target_kind": "deployment", "target": "fraud-api", "spec": SPEC}
    answer = client.post(API, json=base | body)
    assert 400 <= answer.status_code < 500, answer.text
    if field is None:
        assert answer.status_code == 404
    else:
        assert answer.json()["field"] == field, answer.text
    assert client.get(f"{API}/other").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "kw", "status", "field"),
    [
        ("POST", f"{API}/fraud-watch/evaluate", {"json": {"since": "yesterday"}}, 422,
         "body.since"),
        ("POST", f"{API}/fraud-watch/evaluate", {"json": {"since": "2026-11-30T10:00:00"}}, 422,
         "body.since"),
        ("POST", f"{API}/fraud-watch/evaluate",
         {"json": {"since": UNTIL.isoformat(), "until": START.isoformat()}}, 400, "since"),
        ("GET", f"{API}/fraud-watch/results", {"params": {"limit": 0}}, 422, "query.limit"),
        ("GET", f"{API}/fraud-watch/results", {"params": {"since": "soon"}}, 422, "query.since"),
        ("GET", f"{API}/fraud-watch/windows/soon", {}, 422, "path.start"),
        ("GET", f"{API}/no-such/results", {}, 404, None),
        ("GET", f"{API}/no-such/report.html", {}, 404, None),
        ("POST", "/api/v1/profiles", {"json": {"name": "p", "source": "no-such@1"}}, 404, "source"),
        ("POST", "/api/v1/profiles", {"json": {"name": "bad name", "source": "fraud-data@1"}},
         400, "name"),
        ("POST", "/api/v1/profiles", {"json": {"name": "p"}}, 422, "body.source"),
    ],
)  # fmt: skip
def test_bad_requests_are_4xx_naming_the_field(
    served: tuple[httpx.Client, Context],
    method: str,
    path: str,
    kw: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    client, _ = served
    answer = client.request(method, path, **kw)
    assert answer.status_code == status, answer.text
    assert answer.json().get("field") == field, answer.text


def test_delete_removes_the_monitor(served: tuple[httpx.Client, Context]) -> None:
    client, _ = served
    body = {"name": "brief", "target_kind": "deployment", "target": "fraud-api", "spec": SPEC}
    assert client.post(API, json=body).status_code == 201
    assert client.delete(f"{API}/brief").status_code == 204
    assert client.get(f"{API}/brief").status_code == 404
    assert client.delete(f"{API}/brief").status_code == 404


@pytest.fixture
def secured(
    make_context: Callable[..., Context],
    sqlite_url: str,
    serve: Callable[[Context], httpx.Client],
) -> tuple[httpx.Client, dict[str, str]]:
    """``--auth`` over project ``shop`` with a profile and a monitor, an editor and a viewer."""
    context = make_context(database_url=sqlite_url, auth=True)
    db = context.db
    db.run(auth.create_project, "shop")
    tokens = {}
    for name, role in (("eve", "editor"), ("vic", "viewer")):
        db.run(auth.create_user, name)
        db.run(auth.set_member, "shop", name, role)
        tokens[name] = db.run(auth.create_token, name, "shop").secret
    from kiln.monitoring._monitors import create_monitor
    from kiln.monitoring._profiles import create_profile

    create_profile(context, "shop", "fraud-ref", reference(200))
    _service.register(context.db, context.artifacts, "shop", reference(200), "fraud-data")
    db.run(create_monitor, "shop", "watch", target_kind="deployment", target="fraud-api", spec=SPEC)
    return serve(context), tokens


def test_viewers_read_editors_change(secured: tuple[httpx.Client, dict[str, str]]) -> None:
    client, tokens = secured

    def call(user: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {tokens[user]}"} if user else {}
        return client.request(method, path, headers=headers, **kw)

    assert call(None, "GET", API).status_code == 401
    for path in (API, f"{API}/watch", f"{API}/watch/results", f"{API}/watch/report",
                 f"{API}/watch/report.html", "/api/v1/profiles"):  # fmt: skip
        assert call("vic", "GET", path).status_code == 200, path
    body = {"name": "other", "target_kind": "deployment", "target": "fraud-api", "spec": SPEC}
    changes = (
        ("POST", API, body),
        ("POST", f"{API}/watch/evaluate", {}),
        ("POST", "/api/v1/profiles", {"name": "p", "source": "fraud-data@1"}),
        ("DELETE", f"{API}/watch", None),
    )
    for method, path, payload in changes:
        denied = call("vic", method, path, json=payload)
        assert denied.status_code == 403, (path, denied.text)
        assert "viewer" in denied.json()["message"]
    made = call("eve", "POST", API, json=body)
    assert made.status_code == 201, made.text
    assert made.json()["created_by"] == "eve"
    assert call("eve", "DELETE", f"{API}/other").status_code == 204
