"""The REST API under ``/api/v1``: one router per resource, thin adapters over services.

Every route authenticates through ``kiln.server.deps.get_caller``; a new
domain adds its module here and its router to ``ROUTERS``.
"""

from fastapi import APIRouter, Depends

from kiln.server.api import (
    alerts,
    audit,
    datasets,
    deployments,
    experiments,
    features,
    jobs,
    labeling,
    labeling_models,
    labeling_watches,
    lineage,
    logged_models,
    monitor_rules,
    monitors,
    pipelines,
    projects,
    registry,
    runs,
    studies,
    tokens,
    users,
)
from kiln.server.deps import get_caller

ROUTERS = (
    projects.router,
    users.router,
    tokens.router,
    audit.router,
    experiments.router,
    runs.router,
    logged_models.router,
    registry.router,
    datasets.router,
    features.router,
    pipelines.router,
    deployments.router,
    lineage.router,
    alerts.router,
    monitors.router,
    monitor_rules.router,
    jobs.router,
    studies.router,
    labeling.router,
    labeling_models.router,
    labeling_watches.router,
)


def api_router() -> APIRouter:
    """All ``/api/v1`` routes, each requiring an authenticated caller."""
    router = APIRouter(prefix="/api/v1", dependencies=[Depends(get_caller)])
    for child in ROUTERS:
        router.include_router(child)
    return router
