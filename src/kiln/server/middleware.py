"""Pure ASGI middleware: request ids, the access log, and the audit log.

They are plain ASGI (not ``BaseHTTPMiddleware``) so streaming responses pass
through untouched and each request costs a few microseconds.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

import anyio.to_thread
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kiln.auth import AuditRecord, Principal, record
from kiln.context import Context

access_log = logging.getLogger("kiln.access")
error_log = logging.getLogger("kiln.server")

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def request_state(scope: Scope) -> dict[str, Any]:
    """The per-request dict behind ``request.state`` (shared with route code)."""
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


class RequestContextMiddleware:
    """Gives each request an id and a ``Server-Timing``, logs it, turns crashes into a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"")
        request_id = (
            incoming.decode() if _VALID_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        )
        state = request_state(scope)
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                # Server-Timing: time until the response starts (a page's render time).
                elapsed = (time.perf_counter() - started) * 1000
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode()),
                    (b"server-timing", f"app;dur={elapsed:.1f}".encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_log.exception("unhandled error in %s %s [%s]", *_line(scope), request_id)
            if response_started:
                raise
            status = 500
            await _send_internal_error(send, request_id)
        finally:
            principal: Principal | None = state.get("principal")
            access_log.info(
                '%s "%s %s" %d %.1fms user=%s rid=%s',
                _client(scope),
                *_line(scope),
                status,
                (time.perf_counter() - started) * 1000,
                principal.user if principal else "-",
                request_id,
            )


async def _send_internal_error(send: Send, request_id: str) -> None:
    body = orjson.dumps(
        {
            "error_code": "INTERNAL_ERROR",
            "message": f"the server failed on this request; its log has the details under "
            f"request id {request_id}",
            "request_id": request_id,
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (REQUEST_ID_HEADER, request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AuditMiddleware:
    """Appends every mutating ``/api/`` call to the audit log before it completes.

    The entry is written before the last byte of the response is sent, so a
    client that saw its call finish can rely on the entry being there.
    """

    def __init__(self, app: ASGIApp, context: Context) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in MUTATING_METHODS
            or not scope["path"].startswith(("/api/", "/ajax-api/"))
        ):
            await self.app(scope, receive, send)
            return
        status = 500
        recorded = False

        async def send_after_audit(message: Message) -> None:
            nonlocal status, recorded
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                await self._record(scope, status)
                recorded = True
            await send(message)

        try:
            await self.app(scope, receive, send_after_audit)
        finally:
            if not recorded:
                await self._record(scope, status)

    async def _record(self, scope: Scope, status: int) -> None:
        entry = audit_record(scope, status)
        try:
            await anyio.to_thread.run_sync(self.context.db.run, record, entry)
        except Exception:
            error_log.exception("could not write the audit entry %r", entry)


def audit_record(scope: Scope, status: int) -> AuditRecord:
    """What the audit log keeps of a finished request."""
    state = request_state(scope)
    principal: Principal | None = state.get("principal")
    route = scope.get("route")
    params: dict[str, Any] = scope.get("path_params") or {}
    return AuditRecord(
        actor=principal.user if principal else None,
        token_id=principal.token_id if principal else None,
        project=state.get("project")
        or params.get("project")
        or _header(scope, b"x-kiln-project")
        or (principal.project if principal else None),
        action=getattr(route, "name", None) or "unknown_route",
        method=scope["method"],
        path=scope["path"],
        target=_target({**params, **state.get("audit_target", {})}),
        status_code=status,
        outcome=outcome_of(status),
        request_id=state.get("request_id"),
        client=_client(scope),
    )


def note_audit_target(scope: Scope, **fields: object) -> None:
    """Name what a call acted on, beyond its path parameters (e.g. the project it created)."""
    target: dict[str, object] = request_state(scope).setdefault("audit_target", {})
    target.update({key: value for key, value in fields.items() if value is not None})


def _target(fields: dict[str, object]) -> str | None:
    return ",".join(f"{key}={value}" for key, value in sorted(fields.items())) or None


def outcome_of(status: int) -> str:
    if status < 400:
        return "ok"
    return {401: "unauthenticated", 403: "denied", 404: "not_found"}.get(
        status, "rejected" if status < 500 else "error"
    )


def _line(scope: Scope) -> tuple[str, str]:
    # The raw (still percent-encoded) path: a decoded one could carry line
    # breaks into the access log.
    raw = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    target = raw + (b"?" + query if query else b"")
    return scope["method"], target.decode("latin-1").encode("unicode_escape").decode()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))[:64]
    return None


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"
