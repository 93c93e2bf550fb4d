"""One table from Kiln's errors to HTTP, and the handlers that apply it.

Every error body is ``{"error_code": ..., "message": ..., "field": ...,
"request_id": ...}``; no traceback ever reaches a client.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from kiln.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    KilnError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from kiln.server.responses import JSONResponse

#: HTTP status of each error class; subclasses resolve through their MRO.
HTTP_STATUS: dict[type[KilnError], int] = {
    KilnError: 500,
    NotFound: 404,
    AlreadyExists: 409,
    InvalidInput: 400,
    Conflict: 409,
    PermissionDenied: 403,
    Unauthenticated: 401,
    Unavailable: 503,
}

_HTTP_CODES = {
    400: "INVALID_INPUT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "INVALID_INPUT",
    429: "TOO_MANY_REQUESTS",
    503: "UNAVAILABLE",
}


def status_of(error: KilnError) -> int:
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def error_body(
    request: Request | None, error_code: str, message: str, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"error_code": error_code, "message": message}
    body.update({key: value for key, value in extra.items() if value is not None})
    if request is not None:
        request_id = request.scope.get("state", {}).get("request_id")
        if request_id:
            body["request_id"] = request_id
    return body


def _kiln_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KilnError)
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = error_body(request, exc.error_code, exc.message, field=exc.field)
    return JSONResponse(body, status_code=status, headers=headers)


def _field_name(location: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in location)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"field": _field_name(error.get("loc", ())), "message": error.get("msg", "invalid")}
        for error in exc.errors()
    ]
    first = details[0] if details else {"field": None, "message": "invalid request"}
    message = "; ".join(
        f"{detail['field']}: {detail['message']}" if detail["field"] else str(detail["message"])
        for detail in details
    )
    body = error_body(request, "INVALID_INPUT", message, field=first["field"], details=details)
    return JSONResponse(body, status_code=422)


_API_PREFIXES = ("/api/", "/ajax-api/", "/ui/static/")


def _wants_page(request: Request) -> bool:
    """A browser asking for a page (not an API client): it gets the UI's error page."""
    accept = request.headers.get("accept", "")
    return "text/html" in accept and not request.url.path.startswith(_API_PREFIXES)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if _wants_page(request) and exc.status_code in (404, 405):
        from kiln.server.ui._templates import render_error

        what = "page" if exc.status_code == 404 else "method"
        message = f"there is no such {what}: {request.method} {request.url.path}"
        return render_error(request, exc.status_code, message)
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = f"no such route: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    body = error_body(request, code, message)
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Make ``app`` answer every failure with Kiln's JSON error body."""
    app.add_exception_handler(KilnError, _kiln_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
