"""The small MLflow 3 routes clients probe: server info and version."""

from __future__ import annotations

from fastapi import APIRouter

from kiln._version import __version__
from kiln.server.mlflow._route import MlflowRoute
from kiln.server.responses import JSONResponse

router = APIRouter(route_class=MlflowRoute)


@router.get("/server-info")
def server_info() -> JSONResponse:
    """What this server is; MLflow clients read it before large uploads."""
    return JSONResponse(
        {"store_type": "SqlStore", "kiln_version": __version__, "workspaces_enabled": False}
    )
