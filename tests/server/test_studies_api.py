"""The studies REST API over real HTTP: the list with counts and best trials, one study with
its trials, importances and report, ``?trials=false``; unknown or malformed names a 4xx naming
the field, never a 500; viewers read, editors delete, and the runs stay."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from kiln import auth
from kiln.config import Settings
from kiln.context import Context
from kiln.server import create_app
from kiln.server.background import BackgroundServer
from kiln.tracking import _runs
from kiln.training._studies import get_study
from tests.ui._studies import (
    BROKEN,
    FAILING_TRIAL,
    PARETO,
    PARETO_TRIALS,
    SEARCH,
    SEARCH_TRIALS,
    make_studies,
)

pytestmark = pytest.mark.timeout(120)

API = "/api/v1/studies"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Context]]:
    home = tmp_path_factory.mktemp("studies-api")
    context = Context(Settings(home=home, project="default"))
    make_studies(context)
    server = BackgroundServer(create_app(context))
    client = httpx.Client(base_url=server.start(), timeout=60)
    try:
        yield client, context
    finally:
        client.close()
        server.stop()
        context.close()


def test_the_list_has_counts_and_best_trials_but_no_trial_lists(
    served: tuple[httpx.Client, Context],
) -> None:
    client, context = served
    studies = client.get(API).json()["studies"]
    assert [s["name"] for s in studies] == [BROKEN, PARETO, SEARCH]  # newest first
    by_name = {s["name"]: s for s in studies}
    search = by_name[SEARCH]
    stored = context.db.read(get_study, "default", SEARCH)
    assert search["n_trials"] == SEARCH_TRIALS
    assert search["states"] == stored.states
    assert search["states"]["FAIL"] == 1
    assert search["states"].get("PRUNED", 0) >= 1
    assert search["directions"] == ["minimize"]
    assert [b["number"] for b in search["best"]] == [stored.best[0].number]
    assert "trials" not in search
    pareto = by_name[PARETO]
    assert pareto["metric_names"] == ["error", "size"]
    assert len(pareto["best"]) >= 2
    assert by_name[BROKEN]["best"] == []
    assert by_name[BROKEN]["states"] == {"FAIL": 2}


def test_a_study_has_its_trials_importances_and_report(
    served: tuple[httpx.Client, Context],
) -> None:
    client, _ = served
    body = client.get(f"{API}/{SEARCH}").json()
    assert [t["number"] for t in body["trials"]] == list(range(SEARCH_TRIALS))
    failed = body["trials"][FAILING_TRIAL]
    assert failed["state"] == "FAIL"
    assert "cannot train" in failed["failure"]
    complete = [t for t in body["trials"] if t["state"] == "COMPLETE"]
    assert all(list(t["intermediate"]) == ["0", "1", "2", "3", "4"] for t in complete)
    best = min(complete, key=lambda t: t["values"][0])
    assert body["best"][0]["number"] == best["number"]
    assert body["objectives"] == ["value"]
    (shares,) = body["importances"]
    assert set(shares) == {"x", "y", "kind"}
    assert list(shares.values()) == sorted(shares.values(), reverse=True)
    assert body["run_status"] == "FINISHED"
    report = body["report"]
    assert report["path"] == "tuning/report.html"
    assert report["run_id"] == body["parent_run_id"]
    page = client.get(f"/api/v1/runs/{report['run_id']}/artifact-content/{report['path']}")
    assert page.status_code == 200
    assert len(page.content) == report["size"]
    assert b"Optimization history" in page.content

    brief = client.get(f"{API}/{SEARCH}", params={"trials": "false"}).json()
    assert brief["trials"] == []
    assert brief["best"] == [{**body["best"][0], "intermediate": {}}]
    assert brief["importances"] == body["importances"]


def test_a_two_objective_study_names_its_objectives(
    served: tuple[httpx.Client, Context],
) -> None:
    client, _ = served
    body = client.get(f"{API}/{PARETO}").json()
    assert body["objectives"] == ["error", "size"]
    assert len(body["trials"]) == PARETO_TRIALS
    assert len(body["importances"]) == 2
    front = [t["values"] for t in body["best"]]
    for values in front:  # nothing on the front is beaten on both objectives
        assert not any(
            o["values"][0] <= values[0] and o["values"][1] <= values[1] and o["values"] != values
            for o in body["trials"]
        )


def test_a_study_without_a_completed_trial(served: tuple[httpx.Client, Context]) -> None:
    client, _ = served
    body = client.get(f"{API}/{BROKEN}").json()
    assert body["best"] == []
    assert body["importances"] == [{}]
    assert [t["state"] for t in body["trials"]] == ["FAIL", "FAIL"]


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        (f"{API}/no-such-study", {}, 404, None),
        (f"{API}/{SEARCH}", {"trials": "maybe"}, 422, "query.trials"),
        (f"{API}/{'x' * 129}", {}, 422, "path.study"),
        (f"{API}/%20", {}, 404, None),
    ],
)
def test_bad_requests_are_4xx_naming_the_field(
    served: tuple[httpx.Client, Context],
    path: str,
    params: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    client, _ = served
    answer = client.get(path, params=params)
    assert answer.status_code == status, answer.text
    assert answer.json().get("field") == field, answer.text
    if status == 404:
        assert "kiln tune list" in answer.json()["message"]


@pytest.fixture
def secured(
    make_context: Callable[..., Context],
    sqlite_url: str,
    serve: Callable[[Context], httpx.Client],
) -> tuple[httpx.Client, dict[str, str], Context]:
    """``--auth`` over project ``shop`` with the studies, an editor, a viewer and an outsider."""
    context = make_context(database_url=sqlite_url, project="shop", auth=True)
    make_studies(context)
    db = context.db
    tokens = {}
    for name, role in (("eve", "editor"), ("vic", "viewer")):
        db.run(auth.create_user, name)
        db.run(auth.set_member, "shop", name, role)
        tokens[name] = db.run(auth.create_token, name, "shop").secret
    db.run(auth.create_project, "other")
    db.run(auth.create_user, "olga")
    db.run(auth.set_member, "other", "olga", "editor")
    tokens["olga"] = db.run(auth.create_token, "olga", "other").secret
    return serve(context), tokens, context


def test_viewers_read_editors_delete_and_the_runs_stay(
    secured: tuple[httpx.Client, dict[str, str], Context],
) -> None:
    client, tokens, context = secured

    def call(user: str | None, method: str, path: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {tokens[user]}"} if user else {}
        return client.request(method, path, headers=headers)

    assert call(None, "GET", API).status_code == 401
    for path in (API, f"{API}/{SEARCH}"):
        assert call("vic", "GET", path).status_code == 200, path
    denied = call("vic", "DELETE", f"{API}/{SEARCH}")
    assert denied.status_code == 403, denied.text
    assert "viewer" in denied.json()["message"]
    # A token of another project sees that project's studies (none), not shop's.
    assert call("olga", "GET", API).json() == {"studies": []}
    assert call("olga", "GET", f"{API}/{SEARCH}").status_code == 404
    assert call("olga", "DELETE", f"{API}/{SEARCH}").status_code == 404
    study = call("vic", "GET", f"{API}/{SEARCH}").json()
    assert call("eve", "DELETE", f"{API}/{SEARCH}").status_code == 204
    assert call("vic", "GET", f"{API}/{SEARCH}").status_code == 404
    assert call("eve", "DELETE", f"{API}/{SEARCH}").status_code == 404
    assert [s["name"] for s in call("vic", "GET", API).json()["studies"]] == [BROKEN, PARETO]
    runs = [t["run_id"] for t in study["trials"]] + [study["parent_run_id"]]
    for run_id in runs:  # the trials' runs and the study's run stay
        assert call("vic", "GET", f"/api/v1/runs/{run_id}").status_code == 200, run_id
    assert (
        context.db.read(_runs.get_run, "shop", study["parent_run_id"]).tags["kiln.study"] == SEARCH
    )
