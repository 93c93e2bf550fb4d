"""Typed dependencies every router shares: the context, the store, the caller.

``Caller`` authenticates the request (or stands for the local user when auth
is off) and ``RequestProject`` names the project it acts on: the ``project``
path parameter, else the ``X-Kiln-Project`` header, else the ``project``
query parameter, else the token's project (or the server's default project).

The web UI logs in by putting the token in an HttpOnly, SameSite=Strict
cookie (``SESSION_COOKIE``). A mutating call authenticated by that cookie must
also carry the ``X-Kiln-UI`` header, which another site's page cannot add
without a CORS grant Kiln never gives: that is the UI's CSRF guard.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from kiln.auth import (
    Principal,
    Role,
    authenticate,
    local_principal,
    record_token_use,
    require_role,
)
from kiln.context import Context
from kiln.db import Database
from kiln.errors import Unauthenticated
from kiln.server.middleware import request_state

PROJECT_HEADER = "x-kiln-project"
#: The cookie that carries the UI's token; the header cookie-authenticated writes must send.
SESSION_COOKIE = "kiln_session"
UI_HEADER = "x-kiln-ui"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOUCH_EVERY_SECONDS = 60.0


def get_context(request: Request) -> Context:
    context: Context = request.app.state.context
    return context


ContextDep = Annotated[Context, Depends(get_context)]


def get_db(context: ContextDep) -> Database:
    return context.db


DbDep = Annotated[Database, Depends(get_db)]


class _TokenUseCache:
    """Remembers when each token's ``last_used_at`` was refreshed by this process."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def due(self, token_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._seen.get(token_id, -_TOUCH_EVERY_SECONDS) < _TOUCH_EVERY_SECONDS:
                return False
            self._seen[token_id] = now
            return True


_token_uses = _TokenUseCache()


def get_caller(request: Request, context: ContextDep) -> Principal:
    """Who is calling. With auth on, a valid ``Authorization: Bearer <token>`` is required."""
    state = request_state(request.scope)
    cached: Principal | None = state.get("principal")
    if cached is not None:
        return cached
    if not context.settings.auth:
        principal = local_principal(context.settings.project)
    else:
        principal = context.db.read(authenticate, _presented_token(request))
        if principal.token_id and _token_uses.due(principal.token_id):
            context.db.run(record_token_use, principal.token_id)
    state["principal"] = principal
    return principal


def _presented_token(request: Request) -> str:
    """The bearer token, else the UI's session cookie (writes need the UI header too)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    cookie = request.cookies.get(SESSION_COOKIE, "").strip()
    if cookie and not scheme:
        if request.method not in _SAFE_METHODS and request.headers.get(UI_HEADER) != "1":
            raise Unauthenticated(
                f"a write authenticated by the UI's session cookie must send '{UI_HEADER}: 1' "
                "(a page of another site cannot); API clients send 'Authorization: Bearer <token>'"
            )
        return cookie
    raise Unauthenticated(
        "this server requires an API token: send 'Authorization: Bearer <token>' "
        "(create one with `kiln tokens create`), or log in to the web UI at /login"
    )


Caller = Annotated[Principal, Depends(get_caller)]


def get_request_project(request: Request, caller: Caller) -> str:
    """The project this request acts on."""
    project = (
        request.path_params.get("project")
        or request.headers.get(PROJECT_HEADER)
        or request.query_params.get("project")
        or caller.project
    )
    request_state(request.scope)["project"] = project
    return str(project)


RequestProject = Annotated[str, Depends(get_request_project)]


def require(role: Role) -> Callable[[Principal, str], Principal]:
    """A dependency that lets the call through only with ``role`` in the request's project."""

    def check(caller: Caller, project: RequestProject) -> Principal:
        require_role(caller, project, role)
        return caller

    return check


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Editor = Annotated[Principal, Depends(require(Role.EDITOR))]
ProjectAdmin = Annotated[Principal, Depends(require(Role.ADMIN))]
