"""The app over real HTTP with auth off: health, errors, request ids, audit."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from kiln import auth
from kiln.context import Context
from kiln.errors import Conflict, InvalidInput, KilnError, NotFound
from kiln.server import create_app
from kiln.server.errors import status_of

Serve = Callable[[object], httpx.Client]


def test_health(context: Context, serve: Serve) -> None:
    client = serve(context)
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == "ok"


def test_health_reports_an_unreachable_database(
    make_context: Callable[..., Context], serve: Serve
) -> None:
    good = make_context()
    app = create_app(good)
    client = serve(app)
    assert client.get("/health").status_code == 200
    good.db._engine.dispose()  # type: ignore[union-attr]
    good.db.url = "postgresql://kiln:pw@127.0.0.1:1/none"
    good.db._engine = None
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
    assert "pw" not in response.text


def test_request_ids(context: Context, serve: Serve) -> None:
    client = serve(context)
    generated = client.get("/health").headers["x-request-id"]
    assert len(generated) == 32
    echoed = client.get("/health", headers={"X-Request-ID": "trace-42"})
    assert echoed.headers["x-request-id"] == "trace-42"
    unsafe = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"


def test_openapi_lists_the_routers(context: Context, serve: Serve) -> None:
    client = serve(context)
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/projects", "/api/v1/users", "/api/v1/tokens", "/api/v1/audit"):
        assert path in paths
    assert client.get("/docs").status_code == 200


def _error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    assert body["error_code"] == code
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body


def test_malformed_requests_name_the_field(context: Context, serve: Serve) -> None:
    client = serve(context)
    missing = _error(client.post("/api/v1/projects", json={}), 422, "INVALID_INPUT")
    assert missing["field"] == "body.name"
    extra = _error(
        client.post("/api/v1/projects", json={"name": "a", "x": 1}), 422, "INVALID_INPUT"
    )
    assert extra["field"] == "body.x"
    broken = client.post(
        "/api/v1/projects", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    _error(broken, 422, "INVALID_INPUT")
    wrong_type = _error(client.post("/api/v1/projects", json={"name": 5}), 422, "INVALID_INPUT")
    assert wrong_type["field"] == "body.name"
    bad_role = client.put("/api/v1/projects/default/members/x", json={"role": "owner"})
    assert _error(bad_role, 422, "INVALID_INPUT")["field"] == "body.role"
    bad_name = _error(client.post("/api/v1/projects", json={"name": "Bad!"}), 400, "INVALID_INPUT")
    assert bad_name["field"] == "name"
    bad_limit = _error(client.get("/api/v1/audit", params={"limit": 0}), 422, "INVALID_INPUT")
    assert bad_limit["field"] == "query.limit"


def test_domain_errors_map_to_status_codes(context: Context, serve: Serve) -> None:
    client = serve(context)
    _error(client.get("/api/v1/projects/nope"), 404, "NOT_FOUND")
    client.post("/api/v1/projects", json={"name": "dup"})
    _error(client.post("/api/v1/projects", json={"name": "dup"}), 409, "ALREADY_EXISTS")
    _error(client.delete("/api/v1/projects/default"), 409, "CONFLICT")
    _error(client.get("/no/such/route"), 404, "NOT_FOUND")
    _error(client.put("/health"), 405, "METHOD_NOT_ALLOWED")


def test_crashes_become_a_json_500_without_traceback(context: Context, serve: Serve) -> None:
    app = create_app(context)

    @app.post("/api/v1/crash")
    def crash() -> None:
        raise RuntimeError("secret internal detail")

    client = serve(app)
    body = _error(client.post("/api/v1/crash"), 500, "INTERNAL_ERROR")
    assert "secret internal detail" not in str(body)
    assert str(body["request_id"]) in str(body["message"])
    entry = context.db.read(auth.list_entries, action="crash")[0]
    assert (entry.status_code, entry.outcome) == (500, "error")


def test_every_mutating_call_is_audited(context: Context, serve: Serve) -> None:
    client = serve(context)
    assert client.post("/api/v1/projects", json={"name": "p1"}).status_code == 201
    assert client.patch("/api/v1/projects/p1", json={"description": "d"}).status_code == 200
    assert client.post("/api/v1/users", json={"name": "bob"}).status_code == 201
    assert client.put("/api/v1/projects/p1/members/bob", json={"role": "editor"}).status_code == 200
    assert client.post("/api/v1/projects", json={"name": "p1"}).status_code == 409
    client.get("/api/v1/projects")  # reads are not audited
    entries = context.db.read(auth.list_entries, limit=100)
    actions = [(e.action, e.status_code, e.outcome) for e in reversed(entries)]
    assert actions == [
        ("create_project", 201, "ok"),
        ("update_project", 200, "ok"),
        ("create_user", 201, "ok"),
        ("set_member", 200, "ok"),
        ("create_project", 409, "rejected"),
    ]
    member_call = next(e for e in entries if e.action == "set_member")
    assert member_call.project == "p1"
    assert member_call.target == "project=p1,role=editor,user=bob"
    assert member_call.actor == "local"
    assert member_call.request_id


@pytest.mark.parametrize(
    ("error", "status"),
    [(NotFound("x"), 404), (InvalidInput("x"), 400), (Conflict("x"), 409), (KilnError("x"), 500)],
)
def test_status_table(error: KilnError, status: int) -> None:
    assert status_of(error) == status


def test_access_log_lines_cannot_be_forged(
    context: Context, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    client = serve(context)
    import time

    with caplog.at_level("INFO", logger="kiln.access"):
        client.get("/health%0A2026-01-01 forged line")
        client.get("/health", headers={"X-Request-ID": "rid-7"})
        deadline = time.monotonic() + 5  # the line is logged just after the response is sent
        while time.monotonic() < deadline:
            lines = [r.getMessage() for r in caplog.records if r.name == "kiln.access"]
            if any("rid=rid-7" in line for line in lines):
                break
            time.sleep(0.01)
    assert any("%0A" in line for line in lines)
    assert all("\n" not in line for line in lines)
    assert any('"GET /health" 200' in line and "rid=rid-7" in line for line in lines)
