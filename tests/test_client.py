"""The generic API client against a real server: results and errors as Kiln's exceptions."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kiln import auth
from kiln.client import ApiClient
from kiln.context import Context
from kiln.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    KilnError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from kiln.server import create_app
from kiln.server.background import BackgroundServer, free_port


@pytest.fixture
def secured(make_context: Callable[..., Context]) -> tuple[Context, str]:
    context = make_context(auth=True)
    context.db.run(auth.create_user, "root", is_admin=True)
    context.db.run(auth.create_user, "vic")
    context.db.run(auth.set_member, "default", "vic", "viewer")
    return context, context.db.run(auth.create_token, "root", "default").secret


def test_requests_and_errors_round_trip(secured: tuple[Context, str]) -> None:
    context, secret = secured
    with BackgroundServer(create_app(context)) as url, ApiClient(url, token=secret) as client:
        assert client.request("GET", "/users/me")["user"] == "root"
        assert client.request("POST", "/projects", json_body={"name": "p"})["name"] == "p"
        assert client.request("DELETE", "/projects/p") is None  # 204
        with pytest.raises(NotFound, match="'nobody'"):
            client.request("GET", "/users/nobody")
        with pytest.raises(PermissionDenied, match="scoped to 'default'"):
            client.request("GET", "/projects/elsewhere")
        client.request("POST", "/projects", json_body={"name": "dup"})
        with pytest.raises(AlreadyExists):
            client.request("POST", "/projects", json_body={"name": "dup"})
        with pytest.raises(Conflict):
            client.request("DELETE", "/projects/default")
        with pytest.raises(InvalidInput) as invalid:
            client.request("POST", "/projects", json_body={})
        assert invalid.value.field == "body.name"
        listed = client.request("GET", "/audit", params={"limit": 2, "actor": None})
        assert len(listed) == 2
        with ApiClient(url) as anonymous, pytest.raises(Unauthenticated):
            anonymous.request("GET", "/projects")
        viewer = context.db.run(auth.create_token, "vic", "default").secret
        with ApiClient(url, token=viewer) as read_only, pytest.raises(PermissionDenied):
            read_only.request("POST", "/users", json_body={"name": "x"})


def test_context_uses_the_server_when_configured(
    secured: tuple[Context, str], make_context: Callable[..., Context]
) -> None:
    context, secret = secured
    assert context.client is None
    with BackgroundServer(create_app(context)) as url:
        remote = make_context(server_url=url, token=secret, project="default")
        assert remote.client is not None
        assert remote.client.request("GET", "/users/me")["project"] == "default"
        remote.close()


def test_unreachable_server_and_bad_urls() -> None:
    with (
        ApiClient(f"http://127.0.0.1:{free_port()}") as client,
        pytest.raises(KilnError, match="cannot reach the Kiln server"),
    ):
        client.request("GET", "/projects")
    with pytest.raises(InvalidInput, match="http"):
        ApiClient("ftp://example.com")


def test_reconnects_after_the_server_restarts(secured: tuple[Context, str]) -> None:
    context, secret = secured
    port = free_port()
    with BackgroundServer(create_app(context), port=port) as url:
        client = ApiClient(url, token=secret)
        assert client.request("GET", "/users/me")["user"] == "root"
    with BackgroundServer(create_app(context), port=port):
        assert client.request("GET", "/users/me")["user"] == "root"
    client.close()


def test_retries_with_back_off_on_5xx_but_never_replays_a_failed_post() -> None:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    calls = {"get": 0, "post": 0, "busy": 0}
    app = FastAPI()

    @app.get("/api/v1/flaky")
    def flaky_get() -> JSONResponse:
        calls["get"] += 1
        if calls["get"] < 3:
            return JSONResponse({"error_code": "INTERNAL_ERROR", "message": "x"}, 500)
        return JSONResponse({"ok": True})

    @app.post("/api/v1/flaky")
    def flaky_post() -> JSONResponse:
        calls["post"] += 1
        return JSONResponse({"error_code": "INTERNAL_ERROR", "message": "maybe committed"}, 500)

    @app.post("/api/v1/busy")
    def busy_post() -> JSONResponse:
        calls["busy"] += 1
        if calls["busy"] < 2:
            return JSONResponse({"message": "restarting"}, 503)
        return JSONResponse({"ok": True})

    with BackgroundServer(app) as url, ApiClient(url, backoff=0.01) as client:
        assert client.request("GET", "/flaky") == {"ok": True}
        assert calls["get"] == 3
        with pytest.raises(KilnError, match="maybe committed"):
            client.request("POST", "/flaky", json_body={})
        assert calls["post"] == 1
        assert client.request("POST", "/busy", json_body={}) == {"ok": True}
        assert calls["busy"] == 2
