"""One Jinja2 environment for every page, its filters, and ``render``.

Templates live in ``templates/``; every page extends ``base.html`` and gets
the shell's context (the caller, the project, the switcher's projects, the
navigation) from :func:`render`, so a page passes only its own data.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import orjson
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from kiln._version import __version__
from kiln.server.ui._areas import AREAS, current_area

if TYPE_CHECKING:
    import jinja2

    from kiln.server.ui._session import Viewing


def when(value: int | float | datetime | None) -> str:
    """A time (epoch milliseconds or datetime) as ``2026-11-23 17:40:05`` UTC."""
    if value is None:
        return "—"
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value / 1000, tz=UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def ago(value: int | float | datetime | None, now: datetime | None = None) -> str:
    """``3 min ago``-style age of a time (epoch milliseconds or datetime)."""
    if value is None:
        return "—"
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value / 1000, tz=UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def duration(milliseconds: int | float | None) -> str:
    """A length of time: ``850 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``."""
    if milliseconds is None:
        return "—"
    seconds = milliseconds / 1000
    if seconds < 1:
        return f"{milliseconds:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def num(value: Any, digits: int = 4) -> str:
    """A metric value, short: ``0.8962``, ``1.23e+06``, ``NaN``, ``∞``."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude != 0 and (magnitude >= 1e6 or magnitude < 1e-3):
        return f"{value:.{max(digits - 1, 1)}e}"
    return f"{value:.{digits}g}" if magnitude >= 1 else f"{value:.{digits}f}".rstrip("0")


def to_json(value: Any) -> Markup:
    """``value`` as JSON safe inside ``<script type="application/json">``."""
    text = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


@cache
def environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kiln.server.ui", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(when=when, ago=ago, duration=duration, num=num, tojson=to_json)
    from kiln.server.ui._static import static_url

    env.globals.update(areas=AREAS, version=__version__, static_url=static_url)
    return env


def render(
    request: Request,
    template: str,
    viewing: Viewing | None = None,
    *,
    status_code: int = 200,
    **page: Any,
) -> HTMLResponse:
    """``template`` rendered with the shell's context and the page's own ``page`` values."""
    projects: list[str] = []
    if viewing is not None:
        from kiln.server.deps import get_db
        from kiln.server.ui._session import projects_for

        projects = projects_for(get_db(request.app.state.context), viewing)
    context = {
        "request": request,
        "path": request.url.path,
        "area": current_area(request.url.path),
        "viewing": viewing,
        "projects": projects,
        "partial": request.headers.get("x-kiln-partial") == "1",
        **page,
    }
    html = environment().get_template(template).render(context)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def render_error(
    request: Request, status_code: int, message: str, *, field: str | None = None
) -> HTMLResponse:
    """The error page: what went wrong, in the error's own words, with its HTTP status."""
    titles = {400: "Bad request", 401: "Log in needed", 403: "Not allowed", 404: "Not found"}
    return render(
        request,
        "error.html",
        status_code=status_code,
        title=titles.get(status_code, "Something went wrong"),
        message=message,
        field=field,
        status=status_code,
    )
