"""The navigation: every area of the lifecycle the UI has pages for.

A capability that adds pages adds its :class:`Area` here, in lifecycle order;
``prefix`` marks the entry current on every page under it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Area:
    key: str
    label: str
    url: str
    prefix: str
    description: str


AREAS: tuple[Area, ...] = (
    Area("home", "Home", "/", "/home", "Recent activity in the project"),
    Area("datasets", "Datasets", "/datasets", "/datasets", "Versions, profiles, validations"),
    Area("labeling", "Labeling", "/labeling", "/labeling", "Label tasks, review disagreements"),
    Area("features", "Features", "/features", "/features", "Feature views, freshness, consumers"),
    Area("pipelines", "Pipelines", "/pipelines", "/pipelines", "Runs, paused gates, schedules"),
    Area("jobs", "Jobs", "/jobs", "/jobs", "Training jobs: status, logs, resources, cancel"),
    Area("studies", "Studies", "/studies", "/studies", "Tuning studies: trials, plots, best"),
    Area("experiments", "Experiments", "/experiments", "/experiments", "Runs and comparisons"),
    Area("models", "Models", "/models", "/models", "Registered models, versions, aliases"),
    Area(
        "deployments",
        "Deployments",
        "/deployments",
        "/deployments",
        "Traffic splits, shadows, bandits, rollbacks",
    ),
    Area("monitors", "Monitors", "/monitors", "/monitors", "Drift, quality, performance, alerts"),
    Area("lineage", "Lineage", "/lineage", "/lineage", "What was made from what"),
)


def current_area(path: str) -> str:
    """The key of the area ``path`` belongs to (``home`` for ``/`` and unknown paths)."""
    for area in AREAS:
        if area.key != "home" and (path == area.prefix or path.startswith(area.prefix + "/")):
            return area.key
    if path.startswith(("/runs/", "/compare")):
        return "experiments"
    return "home"
