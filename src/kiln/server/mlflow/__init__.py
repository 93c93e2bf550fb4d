"""MLflow REST compatibility: existing ``mlflow`` clients talk to ``kiln server`` unchanged.

- ``tracking``: ``/api/2.0/mlflow/{experiments,runs}/…`` (and ``/ajax-api/2.0/…``)
- ``metrics``: ``metrics/get-history`` (paged) and ``metrics/get-history-bulk-interval``
- ``logged_models``: MLflow 3 logged models and ``runs/outputs``
- ``registry``: ``/api/2.0/mlflow/{registered-models,model-versions}/…``; MLflow's
  deprecated stages map onto aliases (``Production`` ↔ ``production``)
- ``artifacts``: the ``mlflow-artifacts`` proxy at ``/api/2.0/mlflow-artifacts/artifacts``
- ``meta``: ``/api/3.0/mlflow/server-info``

Every route calls the same services as Kiln's own API (an MLflow run is a
Kiln run), authenticates through the same dependency (MLflow clients send
``MLFLOW_TRACKING_TOKEN`` as a bearer token) and is audited. Errors follow
MLflow's codes and statuses (``_route.MlflowRoute``).
"""

from fastapi import APIRouter, Depends

from kiln.server.deps import get_caller
from kiln.server.mlflow import (
    artifacts,
    logged_models,
    meta,
    metrics,
    model_versions,
    registry,
    tracking,
)

__all__ = ["mlflow_routers"]


def mlflow_routers() -> list[APIRouter]:
    """Every MLflow-compatible route, under MLflow's prefixes."""
    routers = []
    for prefix in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow"):
        router = APIRouter(prefix=prefix, dependencies=[Depends(get_caller)], tags=["mlflow"])
        router.include_router(tracking.router)
        router.include_router(metrics.router)
        router.include_router(logged_models.router)
        router.include_router(registry.router)
        router.include_router(model_versions.router)
        routers.append(router)
    proxy = APIRouter(
        prefix="/api/2.0/mlflow-artifacts", dependencies=[Depends(get_caller)], tags=["mlflow"]
    )
    proxy.include_router(artifacts.router)
    routers.append(proxy)
    info = APIRouter(prefix="/api/3.0/mlflow", tags=["mlflow"])
    info.include_router(meta.router)
    routers.append(info)
    return routers
