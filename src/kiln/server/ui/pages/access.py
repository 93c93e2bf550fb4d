"""Logging in and out with a token, and switching project.

The login form checks the token exactly as the API would and stores it in an
HttpOnly, SameSite=Strict cookie; the page never sees it again. Logging out
clears the cookie (the token itself stays valid until revoked).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, urlsplit

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from kiln.auth import authenticate
from kiln.errors import InvalidInput, Unauthenticated
from kiln.server.deps import SESSION_COOKIE, get_db
from kiln.server.ui._route import UiRoute
from kiln.server.ui._session import PROJECT_COOKIE
from kiln.server.ui._templates import render

router = APIRouter(route_class=UiRoute)

_YEAR = 365 * 24 * 3600


def safe_next(target: str | None) -> str:
    """Only a path on this server: never redirect a login to another site."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login")
def login_page(request: Request, next: Annotated[str, Query()] = "/") -> Response:
    return render(request, "login.html", title="Log in", next=safe_next(next), message="")


async def _form(request: Request) -> dict[str, str]:
    """A small urlencoded form (the login's): first value of each field."""
    body = await request.body()
    if len(body) > 16_384:
        raise InvalidInput("the form is too large", field="token")
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


@router.post("/login")
async def log_in(request: Request) -> Response:
    form = await _form(request)
    secret, next = form.get("token", "").strip(), form.get("next", "/")
    if not secret:
        raise InvalidInput("paste an API token to log in", field="token")
    db = get_db(request.app.state.context)
    try:
        principal = await anyio.to_thread.run_sync(db.read, authenticate, secret)
    except Unauthenticated as error:
        return render(
            request,
            "login.html",
            status_code=401,
            title="Log in",
            next=safe_next(next),
            message=error.message,
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE, secret, httponly=True, samesite="strict", secure=secure, max_age=_YEAR
    )
    response.set_cookie(PROJECT_COOKIE, principal.project, samesite="strict", max_age=_YEAR)
    return response


@router.post("/logout")
def log_out() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/projects/switch")
def switch_project(
    project: Annotated[str, Query(min_length=1, max_length=128)],
    next: Annotated[str, Query()] = "/",
) -> Response:
    """Remember the chosen project and go back to the area's list (a detail page is another
    project's)."""
    area = safe_next(next).split("?")[0].split("/")[1]
    target = f"/{area}" if area else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(PROJECT_COOKIE, project, samesite="strict", max_age=_YEAR)
    return response
