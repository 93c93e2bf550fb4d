"""The model-driven labeling verbs over real HTTP with auth on: pre-annotations with every
refusal listed, next-batch, label errors into the review queue and the prediction-log intake,
with a real registered scikit-learn model; editors only; bad input a 4xx naming the field.

The server's own project is not the one the requests act on, so the models must be read
from the request's registry (a server reading its own would find none).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

from kiln.config import Settings
from kiln.context import Context
from kiln.labeling import _intake, _projects, _tasks
from kiln.tracking import _fluent
from tests.labeling._models import (
    DEPLOYMENT,
    FLIPPED,
    SPECIES,
    START,
    doubted,
    iris_model,
    iris_project,
    label_all,
    log_predictions,
    unsure_keys,
)
from tests.server import _labeling_team as labeling_team
from tests.ui._labeling import ENTITIES, LOANS, PROJECT, make_projects

pytestmark = pytest.mark.timeout(180)

API = "/api/v1/labeling"
CHAMPION = "models:/iris@champion"
GAPPY = "gappy"


class Team(labeling_team.Team):
    """The team, and the registered model the verbs are asked with."""

    def __init__(
        self,
        context: Context,
        client: httpx.Client,
        secrets: dict[str, str],
        model: LogisticRegression,
        uri: str,
    ) -> None:
        super().__init__(context, client, secrets)
        self.model, self.uri = model, uri

    def post(self, name: str, verb: str, body: dict[str, Any], user: str = "lab-ana") -> Any:
        response = self.call(user, "POST", f"{API}/{name}/{verb}", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def stored(self, name: str) -> dict[str, Any]:
        found, _ = self.context.db.read(_tasks.list_tasks, PROJECT, name, limit=1000)
        return {t.item_key: t for t in found}


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    home = tmp_path_factory.mktemp("labeling-models-api")
    context = Context(Settings(home=home, project=PROJECT, auth=True))
    served = Context(Settings(home=home, project="elsewhere", auth=True))
    make_projects(context, with_model=True)
    model, uri = iris_model(context)
    for name in ("iris", "iris-batch", "noisy", "noisy-registered", "iris-review"):
        iris_project(context, name)
    iris_project(context, "two-kinds", ["setosa", "versicolor"])  # the schema has no virginica
    label_all(context, "noisy")
    label_all(context, "noisy-registered")
    log_predictions(context, model, 1)
    _gappy(context)
    secrets = labeling_team.member_tokens(context)
    try:
        with labeling_team.serving(served, timeout=120) as client:
            yield Team(context, client, secrets, model, uri)
    finally:
        _fluent._reset_for_tests()
        served.close()
        context.close()


def _gappy(context: Context) -> None:
    """Twelve answered tasks over one numeric field, two of them without a value."""
    schema = {"task_type": "classification", "data_kind": "tabular", "labels": ["a", "b"]}
    context.db.run(_projects.create_project, PROJECT, GAPPY, schema, user="seed")
    values = [float(n) if n not in (3, 8) else None for n in range(12)]
    _intake.add_from_table(context, PROJECT, GAPPY, pa.table({"x": values}))
    while (task := context.db.read(_tasks.next_task, PROJECT, GAPPY, "ana")) is not None:
        label = "a" if int(task.item_key) % 2 else "b"
        context.db.run(_tasks.submit, PROJECT, GAPPY, task.id, "ana", label)


def _error(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    body: dict[str, Any] = response.json()
    if field is not None:
        assert body["field"] == field, body
    return body


def test_preannotate_labels_the_open_tasks_and_lists_every_refusal(team: Team) -> None:
    done = team.post("iris", "preannotate", {"model": CHAMPION})
    assert done == {"model": CHAMPION, "applied": 150, "rejected": []}
    stored = team.stored("iris")
    assert all(t.prediction["label"] in SPECIES for t in stored.values())
    assert {t.prediction["model"] for t in stored.values()} == {CHAMPION}

    partial = team.post("two-kinds", "preannotate", {"model": team.uri})
    assert partial["rejected"]
    assert partial["applied"] + len(partial["rejected"]) == 150
    refused = partial["rejected"][0]
    assert set(refused) == {"task_id", "item_key", "prediction", "reason"}
    assert refused["prediction"] == "virginica"
    assert "not one of the project's labels" in refused["reason"]
    kept = team.stored("two-kinds")
    assert all(kept[r["item_key"]].prediction is None for r in partial["rejected"])
    assert sum(t.prediction is not None for t in kept.values()) == partial["applied"]


def test_next_batch_puts_the_tasks_the_model_doubts_first_in_the_queue(team: Team) -> None:
    body = {"model": team.uri, "k": 5, "strategy": "margin"}
    tasks = team.post("iris-batch", "next-batch", body)["tasks"]
    assert {t["item_key"] for t in tasks} == doubted(team.model, 5)
    assert all(t["prediction"]["label"] in SPECIES for t in tasks)
    assert all(t["status"] == "open" and t["annotations"] == [] for t in tasks)
    following = team.call("lab-ben", "GET", f"{API}/iris-batch/next").json()["task"]
    assert following["id"] == tasks[0]["id"]  # first in the queue, in the order picked

    spread = team.post("iris-batch", "next-batch", {**body, "k": 3, "diversity": True})
    assert len(spread["tasks"]) == 3
    drawn = {**body, "strategy": "random", "seed": 7}
    first = [t["item_key"] for t in team.post("iris-batch", "next-batch", drawn)["tasks"]]
    again = [t["item_key"] for t in team.post("iris-batch", "next-batch", drawn)["tasks"]]
    assert first == again  # the same seed over the same unanswered tasks


def test_label_errors_go_to_the_review_queue_with_a_default_or_a_registered_model(
    team: Team,
) -> None:
    planted = {team.stored("noisy")[str(row)].id for row in FLIPPED}
    found = team.post("noisy", "label-errors", {})
    assert planted <= set(found["flagged"])
    assert len(found["flagged"]) <= 10  # a few borderline flowers at most
    assert (found["model"], found["folds"], found["review_url"]) == (
        None,
        5,
        "/labeling/noisy/review",
    )
    queue = team.call("lab-vic", "GET", f"{API}/noisy/review").json()["tasks"]
    reasons = {t["id"]: t["review_reason"] for t in queue}
    assert planted <= set(reasons)
    assert all("likely label error" in reasons[i] for i in planted)

    planted = {team.stored("noisy-registered")[str(row)].id for row in FLIPPED}
    found = team.post("noisy-registered", "label-errors", {"model": CHAMPION, "folds": 4})
    assert planted <= set(found["flagged"])
    assert (found["model"], found["folds"]) == (CHAMPION, 4)


def test_intake_makes_tasks_of_the_unsure_answers_in_the_window_once(team: Team) -> None:
    unsure = unsure_keys(team.model, 0.9)
    assert unsure  # iris has its borderline flowers
    body = {"deployment": DEPLOYMENT, "threshold": 0.9, "since": START.isoformat()}
    found = team.post("iris-review", "intake", body)
    # The server reads the answering version's registry in the request's project: all scored.
    assert found == {
        "requests": 15,
        "rows": 150,
        "unsure": len(unsure),
        "added": len(unsure),
        "unscored": 0,
    }
    assert set(team.stored("iris-review")) >= unsure
    logged = {**body, "score_output": "probabilities", "until": "2026-12-02T00:00:00+00:00"}
    again = team.post("iris-review", "intake", logged)
    assert (again["unsure"], again["added"]) == (len(unsure), 0)  # nothing twice
    quiet = team.post("iris-review", "intake", {**body, "deployment": "no-traffic"})
    assert quiet == {"requests": 0, "rows": 0, "unsure": 0, "added": 0, "unscored": 0}


@pytest.mark.parametrize(
    ("verb", "body"),
    [
        ("preannotate", {"model": CHAMPION}),
        ("next-batch", {"model": CHAMPION, "k": 2}),
        ("label-errors", {}),
        ("intake", {"deployment": DEPLOYMENT, "threshold": 0.5}),
    ],
)
def test_viewers_may_not_and_anonymous_callers_are_unknown(
    team: Team, verb: str, body: dict[str, Any]
) -> None:
    _error(team.call("lab-vic", "POST", f"{API}/noisy/{verb}", json=body), 403)
    _error(team.client.post(f"{API}/noisy/{verb}", json=body), 401)


@pytest.mark.parametrize(
    ("name", "verb", "body", "status", "field"),
    [
        ("nope", "preannotate", {"model": CHAMPION}, 404, None),
        ("nope", "next-batch", {"model": CHAMPION, "k": 2}, 404, None),
        ("nope", "label-errors", {}, 404, None),
        ("nope", "intake", {"deployment": DEPLOYMENT, "threshold": 0.5}, 404, None),
        ("iris", "preannotate", {"model": "models:/nope/1"}, 404, "model"),
        ("iris", "preannotate", {"model": "models:/iris@nobody"}, 404, "model"),
        ("iris", "preannotate", {"model": "models:/iris/9"}, 404, "model"),
        ("iris", "preannotate", {"model": "iris"}, 400, "model"),
        ("iris", "preannotate", {"model": "/etc"}, 400, "model"),
        ("iris", "preannotate", {"model": ""}, 422, "body.model"),
        ("iris", "preannotate", {}, 422, "body.model"),
        ("iris", "preannotate", {"model": CHAMPION, "colour": "red"}, 422, "body.colour"),
        ("iris", "next-batch", {"model": CHAMPION, "k": 0}, 422, "body.k"),
        ("iris", "next-batch", {"model": CHAMPION, "k": 10_000}, 422, "body.k"),
        ("iris", "next-batch", {"model": CHAMPION, "k": "two"}, 422, "body.k"),
        ("iris", "next-batch", {"model": CHAMPION, "k": 2, "strategy": "best"}, 422, None),
        ("iris", "next-batch", {"model": CHAMPION, "k": 2, "seed": -1}, 422, "body.seed"),
        ("iris", "next-batch", {"model": "models:/nope@x", "k": 2}, 404, "model"),
        ("iris", "label-errors", {"folds": 1}, 422, "body.folds"),
        ("iris", "label-errors", {"model": "models:/nope/1"}, 404, "model"),
        (LOANS, "label-errors", {}, 400, "folds"),  # nothing answered yet
        (ENTITIES, "label-errors", {}, 400, "name"),  # spans, not single labels
        (GAPPY, "label-errors", {}, 400, "model"),  # NaN: the classifier cannot fit it
        ("iris", "intake", {"deployment": DEPLOYMENT, "threshold": 1.5}, 422, "body.threshold"),
        ("iris", "intake", {"deployment": DEPLOYMENT, "threshold": 0}, 422, "body.threshold"),
        ("iris", "intake", {"deployment": DEPLOYMENT}, 422, "body.threshold"),
        (
            "iris",
            "intake",
            {"deployment": DEPLOYMENT, "threshold": 0.5, "since": "2026-12-01T00:00:00"},
            422,
            "body.since",
        ),
        (
            "iris",
            "intake",
            {
                "deployment": DEPLOYMENT,
                "threshold": 0.5,
                "since": "2026-12-02T00:00:00Z",
                "until": "2026-12-01T00:00:00Z",
            },
            400,
            "until",
        ),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field_never_a_500(
    team: Team, name: str, verb: str, body: dict[str, Any], status: int, field: str | None
) -> None:
    _error(team.call("lab-ana", "POST", f"{API}/{name}/{verb}", json=body), status, field)


def test_a_model_whose_inputs_the_tasks_lack_is_refused(team: Team) -> None:
    """The iris model on the loans (income, debt): its signature names what is missing."""
    refused = team.call("lab-ana", "POST", f"{API}/{LOANS}/preannotate", json={"model": CHAMPION})
    body = _error(refused, 400)
    assert "sepal" in body["message"]
