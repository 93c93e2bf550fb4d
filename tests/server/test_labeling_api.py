"""The labeling REST API over real HTTP with auth on: editors annotate (blind, no gold),
admins review, viewers read; bad input is a 4xx naming the field, never a 500; what the
calls did is read back from the store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kiln.config import Settings
from kiln.context import Context, using_context
from kiln.errors import NotFound
from kiln.labeling._projects import get_project
from kiln.labeling._tasks import get_task
from kiln.tracking import _fluent
from tests.server._labeling_team import Team, member_tokens, serving
from tests.ui._labeling import (
    DATASET,
    DONE,
    ENTITIES,
    PROJECT,
    SENTIMENT,
    SENTIMENT_SCHEMA,
    make_projects,
)

pytestmark = pytest.mark.timeout(120)

API = "/api/v1/labeling"


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    home = tmp_path_factory.mktemp("labeling-api")
    context = Context(Settings(home=home, project=PROJECT, auth=True))
    make_projects(context, with_model=False)
    secrets = member_tokens(context)
    try:
        with serving(context) as client:
            yield Team(context, client, secrets)
    finally:
        _fluent._reset_for_tests()
        context.close()


def _error(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert "Traceback" not in response.text
    if field is not None:
        assert body["field"] == field, body
    return body


def test_projects_are_listed_with_counts_and_webhooks_only_for_reviewers(team: Team) -> None:
    listed = team.call("lab-vic", "GET", API).json()["projects"]
    by_name = {p["name"]: p for p in listed}
    assert by_name[SENTIMENT]["counts"]["tasks"] == 6
    assert by_name[SENTIMENT]["overlap"] == 2
    assert by_name[DONE]["counts"]["complete"] == 1
    one = team.call("lab-vic", "GET", f"{API}/{SENTIMENT}").json()
    assert one["schema"]["labels"] == ["positive", "negative", "neutral"]
    assert one["schema"]["shortcuts"] == ["1", "2", "3"]
    assert one["webhooks"] is None
    assert one["webhook_count"] == 0
    assert team.call("lab-rita", "GET", f"{API}/{SENTIMENT}").json()["webhooks"] == []
    _error(team.call("lab-vic", "GET", f"{API}/nope"), 404)
    assert team.client.get(API).status_code == 401  # no token


def test_an_editor_creates_a_project_from_a_dataset_and_bad_input_names_the_field(
    team: Team,
) -> None:
    body = {
        "name": "from-api",
        "schema": SENTIMENT_SCHEMA,
        "dataset": f"{DATASET}@1",
        "key_column": "review_id",
        "overlap": 3,
        "webhooks": ["https://hooks.example.com/secret-path"],
    }
    made = team.call("lab-ana", "POST", API, json=body)
    assert made.status_code == 201, made.text
    assert made.json()["counts"]["tasks"] == 6
    assert made.json()["webhooks"] is None  # an editor does not see webhook URLs
    stored = team.context.db.read(get_project, PROJECT, "from-api")
    assert (stored.overlap, stored.source, stored.created_by) == (3, f"{DATASET}@1", "lab-ana")
    _error(team.call("lab-ana", "POST", API, json=body), 409)
    _error(team.call("lab-vic", "POST", API, json={**body, "name": "viewer-made"}), 403)

    bad_schema = {**body, "name": "bad", "schema": {**SENTIMENT_SCHEMA, "labels": []}}
    _error(team.call("lab-ana", "POST", API, json=bad_schema), 400, "schema.labels")
    _error(
        team.call("lab-ana", "POST", API, json={**body, "name": "x", "overlap": 0}),
        422,
        "body.overlap",
    )
    _error(
        team.call("lab-ana", "POST", API, json={**body, "name": "x", "colour": 1}),
        422,
        "body.colour",
    )
    _error(team.call("lab-ana", "POST", API, json={**body, "name": "a/b"}), 400, "name")
    hook = {**body, "name": "x", "webhooks": ["ftp://nope"]}
    _error(team.call("lab-ana", "POST", API, json=hook), 400, "webhooks")
    # Rows that cannot be added leave no project behind.
    for name, change, status, field in (
        ("no-dataset", {"dataset": "no-such-dataset@1"}, 404, None),
        ("no-column", {"key_column": "nope"}, 400, "key_column"),
        ("bad-gold", {"gold_column": "text"}, 400, "label"),
    ):
        _error(
            team.call("lab-ana", "POST", API, json={**body, "name": name, **change}), status, field
        )
        with pytest.raises(NotFound):
            team.context.db.read(get_project, PROJECT, name)


def test_annotators_get_their_next_task_blind_and_without_gold(team: Team) -> None:
    first = team.call("lab-ana", "GET", f"{API}/{ENTITIES}/next").json()
    assert first["task"]["item_key"] == "s1"
    assert first["remaining"] == 2
    task_id = first["task"]["id"]
    spans = [{"start": 0, "end": 12, "label": "PRODUCT"}]
    done = team.call(
        "lab-ana",
        "POST",
        f"{API}/{ENTITIES}/tasks/{task_id}/annotations",
        json={"label": spans, "comment": "easy", "seconds": 4.5},
    )
    assert done.status_code == 200, done.text
    assert done.json()["completed"] is True
    assert done.json()["task"]["consensus"] == spans
    stored = team.context.db.read(get_task, PROJECT, ENTITIES, task_id)
    assert [(a.annotator, a.comment, a.seconds) for a in stored.annotations] == [
        ("lab-ana", "easy", 4.5)
    ]
    _error(
        team.call(
            "lab-ben", "POST", f"{API}/{ENTITIES}/tasks/{task_id}/annotations", json={"label": []}
        ),
        409,
    )

    # The gold task r3 of sentiment: its answer is hidden from the annotators.
    gold = team.task_id(SENTIMENT, "r3")
    seen = team.call("lab-ana", "GET", f"{API}/{SENTIMENT}/tasks/{gold}").json()
    assert (seen["gold"], seen["is_gold"]) == (None, None)
    told = team.call("lab-rita", "GET", f"{API}/{SENTIMENT}/tasks/{gold}").json()
    assert (told["gold"], told["is_gold"]) == ("negative", True)

    # Blind: ben does not see ana's answer to an open task, in any route.
    r4 = team.task_id(SENTIMENT, "r4")
    answered = team.call(
        "lab-ana", "POST", f"{API}/{SENTIMENT}/tasks/{r4}/annotations", json={"label": "positive"}
    )
    assert answered.json()["completed"] is False
    assert len(answered.json()["task"]["annotations"]) == 1
    for path in (f"{API}/{SENTIMENT}/tasks/{r4}", f"{API}/{SENTIMENT}/tasks?status=open"):
        body = team.call("lab-ben", "GET", path).json()
        for task in body.get("tasks", [body]):
            assert all(a["annotator"] == "lab-ben" for a in task["annotations"])
    assert team.call("lab-rita", "GET", f"{API}/{SENTIMENT}/tasks/{r4}").json()["annotations"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"label": "happy"}, 400, "label"),
        ({}, 400, "label"),
        ({"label": ["positive"]}, 400, "label"),
        ({"label": "positive", "seconds": -1}, 422, "body.seconds"),
        ({"label": "positive", "comment": 5}, 422, "body.comment"),
        ({"label": "positive", "colour": "red"}, 422, "body.colour"),
    ],
    ids=["unknown", "missing", "list", "negative-seconds", "comment-type", "extra"],
)
def test_an_answer_the_schema_refuses_is_a_4xx_naming_the_field(
    team: Team, body: dict[str, Any], status: int, field: str
) -> None:
    task_id = team.task_id(SENTIMENT, "r5")
    refused = team.call(
        "lab-ben", "POST", f"{API}/{SENTIMENT}/tasks/{task_id}/annotations", json=body
    )
    error = _error(refused, status, field)
    if body.get("label") == "happy":
        assert "not one of the project's labels (positive, negative, neutral)" in error["message"]
    assert team.context.db.read(get_task, PROJECT, SENTIMENT, task_id).annotations == []


def test_unknown_tasks_and_malformed_paths_are_4xx(team: Team) -> None:
    _error(
        team.call(
            "lab-ana", "POST", f"{API}/{SENTIMENT}/tasks/999999/annotations", json={"skip": True}
        ),
        404,
    )
    _error(team.call("lab-ana", "GET", f"{API}/{SENTIMENT}/tasks/0"), 422, "path.task_id")
    _error(team.call("lab-ana", "GET", f"{API}/{SENTIMENT}/tasks/x"), 422, "path.task_id")
    other = team.task_id(ENTITIES, "s2")
    _error(team.call("lab-ana", "GET", f"{API}/{SENTIMENT}/tasks/{other}"), 404)  # not its task
    _error(team.call("lab-ana", "GET", f"{API}/{SENTIMENT}/tasks?status=done"), 422, "query.status")
    _error(team.call("lab-ana", "GET", f"{API}/{SENTIMENT}/tasks?limit=0"), 422, "query.limit")
    _error(team.call("lab-vic", "GET", f"{API}/{SENTIMENT}/next"), 403)


def test_a_skip_moves_the_annotator_on_and_tasks_page(team: Team) -> None:
    first = team.call("lab-ben", "GET", f"{API}/{DONE}/next").json()
    assert first == {"task": None, "remaining": 0}
    page = team.call("lab-vic", "GET", f"{API}/{SENTIMENT}/tasks?limit=4").json()
    assert page["total"] == 6
    assert page["next_offset"] == 4
    rest = team.call("lab-vic", "GET", f"{API}/{SENTIMENT}/tasks?offset=4&limit=4").json()
    assert rest["next_offset"] is None
    assert [t["item_key"] for t in page["tasks"] + rest["tasks"]] == [f"r{i}" for i in range(6)]
    topic = team.call("lab-ben", "GET", f"{API}/topics/next").json()["task"]
    skipped = team.call(
        "lab-ben",
        "POST",
        f"{API}/topics/tasks/{topic['id']}/annotations",
        json={"skip": True, "comment": "cannot tell"},
    )
    assert skipped.json()["completed"] is False
    assert team.call("lab-ben", "GET", f"{API}/topics/next").json()["task"] is None
    assert team.call("lab-ana", "GET", f"{API}/topics/next").json()["task"]["id"] == topic["id"]


def test_disagreement_goes_to_review_and_only_an_admin_decides(team: Team) -> None:
    task_id = team.task_id(SENTIMENT, "r1")
    for user, label in (("lab-ana", "negative"), ("lab-ben", "neutral")):
        answered = team.call(
            user, "POST", f"{API}/{SENTIMENT}/tasks/{task_id}/annotations", json={"label": label}
        )
        assert answered.status_code == 200, answered.text
    assert answered.json()["completed"] is True
    queue = team.call("lab-vic", "GET", f"{API}/{SENTIMENT}/review").json()["tasks"]
    waiting = next(t for t in queue if t["id"] == task_id)
    assert "annotators disagree" in waiting["review_reason"]
    assert {a["annotator"]: a["label"] for a in waiting["annotations"]} == {
        "lab-ana": "negative",
        "lab-ben": "neutral",
    }
    path = f"{API}/{SENTIMENT}/tasks/{task_id}/review"
    _error(team.call("lab-ana", "POST", path, json={"label": "negative"}), 403)
    _error(team.call("lab-rita", "POST", path, json={"label": "meh"}), 400, "label")
    _error(team.call("lab-rita", "POST", path, json={"note": "x"}), 422, "body.label")
    decided = team.call("lab-rita", "POST", path, json={"label": "negative", "note": "sarcasm"})
    assert decided.status_code == 200, decided.text
    assert (decided.json()["status"], decided.json()["reviewed_by"]) == ("reviewed", "lab-rita")
    stored = team.context.db.read(get_task, PROJECT, SENTIMENT, task_id)
    assert (stored.status, stored.consensus, stored.needs_review) == ("reviewed", "negative", False)
    queue = team.call("lab-vic", "GET", f"{API}/{SENTIMENT}/review").json()["tasks"]
    assert task_id not in [t["id"] for t in queue]


def test_the_agreement_report_is_read_from_the_answers(team: Team) -> None:
    report = team.call("lab-vic", "GET", f"{API}/{DONE}/agreement")
    assert report.status_code == 200, report.text
    body = report.json()
    assert (body["tasks_with_answers"], body["tasks_shared"]) == (1, 0)
    assert body["krippendorff_alpha"] is None  # no task has two answers
    assert [a["annotator"] for a in body["annotators"]] == ["seed"]
    _error(team.call("lab-vic", "GET", f"{API}/nope/agreement"), 404)


def test_export_makes_a_dataset_version_and_refuses_an_empty_project(team: Team) -> None:
    exported = team.call("lab-ana", "POST", f"{API}/{DONE}/export", json={"dataset": "done-labels"})
    assert exported.status_code == 201, exported.text
    assert exported.json()["ref"] == "done-labels@1"
    assert exported.json()["dataset"]["num_rows"] == 1
    with using_context(team.context):
        import kiln.data

        frame = kiln.data.load("done-labels@1")
    assert frame["label"].tolist() == ["positive"]
    assert frame["item_key"].tolist() == ["d1"]
    _error(team.call("lab-vic", "POST", f"{API}/{DONE}/export", json={"dataset": "x"}), 403)
    _error(team.call("lab-ana", "POST", f"{API}/photos/export", json={"dataset": "x"}), 400)
    _error(team.call("lab-ana", "POST", f"{API}/{DONE}/export", json={}), 422, "body.dataset")
    _error(team.call("lab-ana", "POST", f"{API}/{DONE}/export", json={"dataset": "a/b"}), 400)


def test_only_an_admin_deletes_a_project(team: Team) -> None:
    made = team.call(
        "lab-ana", "POST", API, json={"name": "short-lived", "schema": SENTIMENT_SCHEMA}
    )
    assert made.status_code == 201, made.text
    _error(team.call("lab-ana", "DELETE", f"{API}/short-lived"), 403)
    assert team.call("lab-rita", "DELETE", f"{API}/short-lived").status_code == 204
    _error(team.call("lab-rita", "DELETE", f"{API}/short-lived"), 404)
    with pytest.raises(NotFound):
        team.context.db.read(get_project, PROJECT, "short-lived")


def test_the_routes_are_in_the_openapi_document(team: Team) -> None:
    paths = team.call("lab-vic", "GET", "/openapi.json").json()["paths"]
    for path in (
        API,
        f"{API}/{{name}}",
        f"{API}/{{name}}/next",
        f"{API}/{{name}}/tasks",
        f"{API}/{{name}}/tasks/{{task_id}}",
        f"{API}/{{name}}/tasks/{{task_id}}/annotations",
        f"{API}/{{name}}/review",
        f"{API}/{{name}}/tasks/{{task_id}}/review",
        f"{API}/{{name}}/export",
    ):
        assert path in paths, path
