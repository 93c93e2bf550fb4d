"""The registry's REST routes over real HTTP with ``--auth``: roles, 404, 400 and audit."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from kiln import auth
from kiln.context import Context
from tests.server.conftest import serve  # noqa: F401  (the live-server fixture)
from tests.server.test_auth_http import Team

SHA = "cd" * 32
M = "/api/v1/registered-models"
Serve = Callable[[object], httpx.Client]


@pytest.fixture
def team(make_context: Callable[..., Context], database_url: str, serve: Serve) -> Team:  # noqa: F811
    context = make_context(database_url=database_url, auth=True)
    return Team(context, serve(context))


def _register(team: Team, user: str = "eve", name: str = "fraud") -> httpx.Response:
    return team.call(
        user,
        "POST",
        "/api/v1/model-versions",
        json={"name": name, "source": "/models/fraud", "manifest_sha256": SHA,
              "create_model": True},
    )  # fmt: skip


def test_roles_guard_the_registry(team: Team) -> None:
    assert _register(team, "vic").status_code == 403
    created = _register(team)
    assert created.status_code == 201
    assert (created.json()["version"], created.json()["created_by"]) == (1, "eve")
    assert _register(team).json()["version"] == 2
    assert team.call("vic", "GET", f"{M}/fraud/versions/latest").json()["version"] == 2

    moved = team.call("eve", "PUT", f"{M}/fraud/aliases/champion", json={"version": 1})
    assert moved.status_code == 200
    assert (moved.json()["actor"], moved.json()["to_version"]) == ("eve", 1)
    assert (
        team.call("vic", "PUT", f"{M}/fraud/aliases/champion", json={"version": 2}).status_code
        == 403
    )

    gate = {"checks": [{"type": "metric_threshold", "metric": "auc", "op": ">=", "value": 0.8}]}
    assert team.call("eve", "PUT", f"{M}/fraud/gates/champion", json=gate).status_code == 403
    assert team.call("ada", "PUT", f"{M}/fraud/gates/champion", json=gate).status_code == 200
    assert team.call("eve", "DELETE", f"{M}/fraud/gates/champion").status_code == 403

    # Version 2 has no run, so the metric check fails: editors are refused, also with force.
    refused = team.call("eve", "PUT", f"{M}/fraud/aliases/champion", json={"version": 2})
    assert refused.status_code == 409
    assert "no source run" in refused.json()["message"]
    forced = {"version": 2, "force": True, "note": "hotfix"}
    assert team.call("eve", "PUT", f"{M}/fraud/aliases/champion", json=forced).status_code == 403
    by_admin = team.call("ada", "PUT", f"{M}/fraud/aliases/champion", json=forced)
    assert by_admin.status_code == 200
    assert by_admin.json()["forced"] is True
    assert by_admin.json()["results"][0]["passed"] is False

    rolled = team.call("eve", "POST", f"{M}/fraud/aliases/champion/rollback", json={})
    assert (rolled.status_code, rolled.json()["to_version"]) == (200, 1)
    history = team.call("vic", "GET", f"{M}/fraud/aliases/champion/history").json()
    assert [(e["action"], e["actor"]) for e in history] == [
        ("rollback", "eve"),
        ("set", "ada"),
        ("set", "eve"),
    ]
    assert team.call("eve", "DELETE", f"{M}/fraud").status_code == 403
    assert team.call("ada", "DELETE", f"{M}/fraud").status_code == 204
    assert team.call("vic", "GET", f"{M}/fraud").status_code == 404


def test_audit_entries_name_model_alias_and_version(team: Team) -> None:
    _register(team)
    team.call("eve", "PUT", f"{M}/fraud/aliases/champion", json={"version": 1})
    team.call("eve", "PUT", f"{M}/fraud/versions/1/tags/stage", json={"value": "prod"})
    team.call("vic", "DELETE", f"{M}/fraud/aliases/champion")
    entries = list(reversed(team.context.db.read(auth.list_entries, limit=100)))
    assert [(e.actor, e.target, e.outcome) for e in entries] == [
        ("eve", "model=fraud,version=1", "ok"),
        ("eve", "alias=champion,model=fraud,version=1", "ok"),
        ("eve", "key=stage,model=fraud,version=1", "ok"),
        ("vic", "alias=champion,model=fraud", "denied"),
    ]
    assert {e.project for e in entries} == {"fraud"}


def test_unknown_things_are_404_and_bad_input_is_400(team: Team) -> None:
    _register(team)
    for path in (
        f"{M}/nope",
        f"{M}/nope/versions/1",
        f"{M}/fraud/versions/7",
        f"{M}/fraud/aliases/ghost",
        f"{M}/fraud/aliases/ghost/history",
    ):
        missing = team.call("vic", "GET", path)
        assert (missing.status_code, missing.json()["error_code"]) == (404, "NOT_FOUND"), path
    rollback = team.call("eve", "POST", f"{M}/fraud/aliases/ghost/rollback", json={})
    assert rollback.status_code == 404

    def bad(user: str, method: str, path: str, body: object = None) -> str:
        response = team.call(user, method, path, **({"json": body} if body is not None else {}))
        assert response.status_code == 400, response.text
        assert response.json()["error_code"] == "INVALID_INPUT"
        return str(response.json()["field"])

    assert bad("vic", "GET", f"{M}/fraud/versions/one") == "version"
    assert bad("vic", "GET", f"{M}/fraud/aliases/latest") == "alias"
    assert bad("eve", "PUT", f"{M}/fraud/aliases/a%20b", {"version": 1}) == "alias"
    assert bad("eve", "POST", M, {"name": "a@b"}) == "name"
    assert bad("eve", "PATCH", f"{M}/fraud", {"name": "x/y"}) == "new_name"
    assert bad("eve", "POST", "/api/v1/model-versions", {"name": "fraud", "source": "/x"}) == (
        "manifest_sha256"
    )
    gate = {"checks": [{"type": "metric_threshold", "metric": "auc", "op": "~", "value": 1}]}
    assert bad("ada", "PUT", f"{M}/fraud/gates/champion", gate) == "checks[0].op"
    reported = {"version": 1, "reported": [{"name": "x", "passed": "yes"}]}
    assert bad("eve", "PUT", f"{M}/fraud/aliases/champion", reported) == "reported[0].passed"
    assert bad("vic", "POST", "/api/v1/model-versions/search", {"filter": "name ~ 1"}) == "filter"
    unknown_field = team.call("eve", "POST", M, json={"name": "m", "colour": "red"})
    assert unknown_field.status_code == 422
