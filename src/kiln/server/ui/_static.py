"""Static files: Kiln's own CSS and JS, and plotly.js from the installed ``plotly`` package.

No CDN and no third-party JavaScript in our repository: plotly.js is read
from the ``plotly`` wheel's ``package_data`` (found without importing plotly,
which is slow to import). URLs carry Kiln's version, so browsers may cache
them for a year.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse

from kiln._version import __version__
from kiln.errors import NotFound
from kiln.server.ui._route import UiRoute

router = APIRouter(route_class=UiRoute)

STATIC = Path(__file__).with_name("static")
_OWN = {path.name: path for path in STATIC.iterdir() if path.suffix in (".css", ".js", ".svg")}
_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
_CACHE = {"Cache-Control": "public, max-age=31536000, immutable"}


def static_url(name: str) -> str:
    return f"/ui/static/{__version__}/{name}"


@cache
def plotly_js() -> Path:
    """The plotly.js bundle shipped inside the ``plotly`` package."""
    spec = importlib.util.find_spec("plotly")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        bundle = Path(folder) / "package_data" / "plotly.min.js"
        if bundle.is_file():
            return bundle
    raise NotFound(
        "charts need plotly.js from the 'plotly' package, which is not installed here; "
        "pip install plotly"
    )


@router.get("/ui/static/{version}/{name}")
def static_file(version: str, name: str) -> FileResponse:
    if name == "plotly.min.js":
        return FileResponse(plotly_js(), media_type="text/javascript", headers=_CACHE)
    path = _OWN.get(name)
    if path is None:
        raise NotFound(f"no static file {name!r}")
    return FileResponse(path, media_type=_TYPES[path.suffix], headers=_CACHE)
