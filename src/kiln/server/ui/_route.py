"""``UiRoute``: a page's failures come back as pages, never as JSON or a traceback.

No or a bad token sends the browser to the login page (which returns it
afterwards); every other Kiln error renders ``error.html`` with the error's
HTTP status and message, and malformed query parameters name the field.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kiln.errors import KilnError, Unauthenticated
from kiln.server.errors import status_of


class UiRoute(APIRoute):
    """An APIRoute for HTML pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            from kiln.server.ui._templates import render_error

            try:
                return await handler(request)
            except Unauthenticated as error:
                if request.method == "GET":
                    query = request.url.query
                    target = request.url.path + (f"?{query}" if query else "")
                    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
                return render_error(request, 401, error.message)
            except KilnError as error:
                return render_error(request, status_of(error), error.message, field=error.field)
            except RequestValidationError as error:
                problems = [
                    (
                        ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "path")),
                        str(e.get("msg")),
                    )
                    for e in error.errors()
                ]
                message = "; ".join(f"{name}: {msg}" for name, msg in problems) or "bad request"
                field = problems[0][0] if problems else None
                return render_error(request, 400, message, field=field)

        return handle
