"""Authentication, roles and the audit log over real HTTP with ``--auth``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.orm import Session

from kiln import auth
from kiln.context import Context
from kiln.db import utcnow
from kiln.db.tables import ApiTokenRow

Serve = Callable[[object], httpx.Client]


class Team:
    """A secured server with a site admin and a project's admin, editor and viewer."""

    def __init__(self, context: Context, client: httpx.Client) -> None:
        self.context = context
        self.client = client
        db = context.db
        db.run(auth.create_project, "fraud")
        db.run(auth.create_user, "root", is_admin=True)
        self.secrets = {"root": db.run(auth.create_token, "root", "default").secret}
        for name, role in (("ada", "admin"), ("eve", "editor"), ("vic", "viewer")):
            db.run(auth.create_user, name)
            db.run(auth.set_member, "fraud", name, role)
            self.secrets[name] = db.run(auth.create_token, name, "fraud").secret

    def call(
        self,
        user: str | None,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        **kwargs: object,
    ) -> httpx.Response:
        headers = dict(headers or {})
        if user:
            headers["Authorization"] = f"Bearer {self.secrets[user]}"
        return self.client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def team(make_context: Callable[..., Context], database_url: str, serve: Serve) -> Team:
    context = make_context(database_url=database_url, auth=True)
    return Team(context, serve(context))


def test_no_token_is_401(team: Team) -> None:
    response = team.call(None, "GET", "/api/v1/projects")
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"
    assert response.headers["www-authenticate"] == "Bearer"
    assert team.call(None, "POST", "/api/v1/projects", json={"name": "x"}).status_code == 401
    basic = team.client.get("/api/v1/projects", headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401
    forged = team.client.get("/api/v1/projects", headers={"Authorization": "Bearer kiln_1_2"})
    assert forged.status_code == 401


def test_health_needs_no_token(team: Team) -> None:
    assert team.client.get("/health").status_code == 200


def test_viewer_reads_but_cannot_write(team: Team) -> None:
    assert team.call("vic", "GET", "/api/v1/projects/fraud").status_code == 200
    assert [p["name"] for p in team.call("vic", "GET", "/api/v1/projects").json()] == ["fraud"]
    denied = team.call("vic", "PATCH", "/api/v1/projects/fraud", json={"description": "x"})
    assert denied.status_code == 403
    assert denied.json()["error_code"] == "PERMISSION_DENIED"
    assert "viewer" in denied.json()["message"]
    member = team.call("vic", "PUT", "/api/v1/projects/fraud/members/eve", json={"role": "admin"})
    assert member.status_code == 403
    assert team.call("vic", "GET", "/api/v1/audit").status_code == 403


def test_roles_allow_what_they_should(team: Team) -> None:
    assert team.call("eve", "POST", "/api/v1/projects", json={"name": "x"}).status_code == 403
    assert team.call(
        "ada", "PATCH", "/api/v1/projects/fraud", json={"description": "ok"}
    ).is_success
    put = team.call("ada", "PUT", "/api/v1/projects/fraud/members/root", json={"role": "viewer"})
    assert put.status_code == 200
    created = team.call("root", "POST", "/api/v1/projects", json={"name": "new"})
    assert created.status_code == 201
    assert team.call("root", "POST", "/api/v1/users", json={"name": "zed"}).status_code == 201
    assert team.call("ada", "POST", "/api/v1/users", json={"name": "zoe"}).status_code == 403
    me = team.call("eve", "GET", "/api/v1/users/me").json()
    assert (me["user"], me["project"], me["role"]) == ("eve", "fraud", "editor")


def test_token_is_scoped_to_its_project(team: Team) -> None:
    assert team.call("ada", "GET", "/api/v1/projects/default").status_code == 403
    header = team.call("ada", "GET", "/api/v1/audit", headers={"X-Kiln-Project": "default"})
    assert header.status_code == 403
    assert team.call("ada", "GET", "/api/v1/audit").status_code == 200


def test_expired_token_is_401(team: Team) -> None:
    issued = team.context.db.run(
        auth.create_token, "eve", "fraud", expires_at=utcnow() + timedelta(hours=1)
    )
    headers = {"Authorization": f"Bearer {issued.secret}"}
    assert team.client.get("/api/v1/users/me", headers=headers).status_code == 200

    def expire(session: Session) -> None:
        session.get_one(ApiTokenRow, issued.token.id).expires_at = utcnow() - timedelta(seconds=1)

    # Moving the expiry in the store, not sleeping past it: a loaded CI machine
    # once took longer than a short expiry to serve the first request.
    team.context.db.run(expire)
    expired = team.client.get("/api/v1/users/me", headers=headers)
    assert expired.status_code == 401
    assert "expired" in expired.json()["message"]


def test_revoked_token_is_401(team: Team) -> None:
    issued = team.call("eve", "POST", "/api/v1/tokens", json={"name": "tmp", "role": "viewer"})
    assert issued.status_code == 201
    body = issued.json()
    assert body["token"]["role"] == "viewer"
    headers = {"Authorization": f"Bearer {body['secret']}"}
    assert team.client.get("/api/v1/users/me", headers=headers).json()["role"] == "viewer"
    listed = team.call("eve", "GET", "/api/v1/tokens").json()
    assert body["secret"] not in str(listed)
    assert team.call("eve", "DELETE", f"/api/v1/tokens/{body['token']['id']}").status_code == 200
    revoked = team.client.get("/api/v1/users/me", headers=headers)
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["message"]


def test_token_rules_over_http(team: Team) -> None:
    escalate = team.call("vic", "POST", "/api/v1/tokens", json={"role": "admin"})
    assert escalate.status_code == 403
    for_other = team.call("eve", "POST", "/api/v1/tokens", json={"user": "vic"})
    assert for_other.status_code == 403
    by_admin = team.call("ada", "POST", "/api/v1/tokens", json={"user": "vic"})
    assert by_admin.status_code == 201
    both = team.call(
        "eve",
        "POST",
        "/api/v1/tokens",
        json={"expires_in_days": 1, "expires_at": "2030-01-01T00:00:00Z"},
    )
    assert both.status_code == 400
    assert both.json()["field"] == "expires_in_days"


def test_disabling_a_user_locks_their_tokens(team: Team) -> None:
    assert team.call("eve", "GET", "/api/v1/users/me").status_code == 200
    assert (
        team.call("root", "PATCH", "/api/v1/users/eve", json={"disabled": True}).status_code == 200
    )
    assert team.call("eve", "GET", "/api/v1/users/me").status_code == 401


def test_every_mutating_call_is_in_the_audit_log(team: Team) -> None:
    calls = [
        ("ada", "PATCH", "/api/v1/projects/fraud", {"description": "x"}, 200, "ok"),
        ("vic", "PATCH", "/api/v1/projects/fraud", {"description": "y"}, 403, "denied"),
        (None, "POST", "/api/v1/tokens", {}, 401, "unauthenticated"),
        ("eve", "PUT", "/api/v1/projects/fraud/members/vic", {"role": "admin"}, 403, "denied"),
        ("ada", "PUT", "/api/v1/projects/fraud/members/vic", {"role": "editor"}, 200, "ok"),
        ("ada", "DELETE", "/api/v1/projects/fraud/members/nobody", None, 404, "not_found"),
    ]
    for user, method, path, body, status, _ in calls:
        kwargs = {"json": body} if body is not None else {}
        assert team.call(user, method, path, **kwargs).status_code == status
    entries = list(reversed(team.context.db.read(auth.list_entries, limit=100)))
    assert len(entries) == len(calls)
    for entry, (user, method, path, _, status, outcome) in zip(entries, calls, strict=True):
        assert (entry.actor, entry.method, entry.path) == (user, method, path)
        assert (entry.status_code, entry.outcome) == (status, outcome)
        assert entry.request_id
    assert entries[0].project == "fraud"
    assert entries[0].token_id is not None
    assert entries[4].target == "project=fraud,role=editor,user=vic"


def test_audit_names_what_was_created(team: Team) -> None:
    team.call("root", "POST", "/api/v1/projects", json={"name": "churn"})
    team.call("eve", "POST", "/api/v1/projects", json={"name": "sneaky"})
    issued = team.call("ada", "POST", "/api/v1/tokens", json={"user": "vic", "name": "ci"}).json()
    entries = {e.target: e for e in team.context.db.read(auth.list_entries, limit=100)}
    assert entries["project=churn"].outcome == "ok"
    assert entries["project=sneaky"].outcome == "denied"
    token_entry = entries[f"role=viewer,token={issued['token']['id']},user=vic"]
    assert token_entry.actor == "ada"
    assert issued["secret"] not in str(list(entries))


def test_audit_log_is_readable_by_project_admins(team: Team) -> None:
    team.call("ada", "PATCH", "/api/v1/projects/fraud", json={"description": "x"})
    team.call("ada", "PUT", "/api/v1/projects/fraud/members/vic", json={"role": "editor"})
    team.call("ada", "DELETE", "/api/v1/projects/fraud/members/vic")
    audit = team.call("ada", "GET", "/api/v1/audit").json()
    assert {e["action"] for e in audit} >= {"update_project", "set_member", "remove_member"}
