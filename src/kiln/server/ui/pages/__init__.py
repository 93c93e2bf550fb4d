"""One module per area of the UI; each exposes ``router`` (built with ``UiRoute``)."""

from __future__ import annotations

from fastapi import APIRouter

from kiln.server.ui.pages import (
    access,
    compare,
    datasets,
    deployments,
    experiments,
    features,
    home,
    jobs,
    labeling,
    lineage,
    models,
    monitors,
    pipelines,
    runs,
    studies,
)

#: Every page router, in navigation order; a new area adds its module here.
PAGE_ROUTERS: tuple[APIRouter, ...] = (
    access.router,
    home.router,
    datasets.router,
    labeling.router,
    features.router,
    pipelines.router,
    jobs.router,
    studies.router,
    experiments.router,
    compare.router,
    runs.router,
    models.router,
    deployments.router,
    monitors.router,
    lineage.router,
)
