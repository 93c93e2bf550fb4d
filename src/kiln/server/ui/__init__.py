"""The web UI ("ML Home"): server-rendered pages served by ``kiln server`` at ``/``.

::

    _route.py       UiRoute: errors become HTML pages; no token → the login page
    _session.py     the login cookie, the UI's caller and project
    _templates.py   one Jinja2 environment, its filters, ``render``
    _areas.py       the navigation: one entry per area of the lifecycle
    _charts.py      figure specs for plotly.js (curves downsampled min/max-preserving)
    _static.py      our CSS/JS, and plotly.js out of the ``plotly`` package
    pages/          one module per area; each exposes ``router``

Every page reads through the same services as the API and checks the same
roles; mutations go through the JSON API (``/api/v1``) from the page, so the
API's checks, gates and audit log apply to the UI unchanged. ``docs/ui.md``
explains how to add a page.
"""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["ui_router"]


def ui_router() -> APIRouter:
    """Every UI page and its static files."""
    from kiln.server.ui import _static
    from kiln.server.ui.pages import PAGE_ROUTERS

    router = APIRouter(include_in_schema=False)
    router.include_router(_static.router)
    for child in PAGE_ROUTERS:
        router.include_router(child)
    return router
