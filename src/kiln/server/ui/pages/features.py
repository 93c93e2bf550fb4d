"""Features: the catalog (searchable), and a page per feature view, service and entity.

Read-only, through ``kiln.features._catalog`` as the API and ``kiln features
describe`` are: the catalog answers in a few queries whatever its size, and
a view's page is one ``describe``. Each feature's completeness (and a
boolean's share of true) is drawn with ``_bars.py``'s small SVG bars, next
to the numbers as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from markupsafe import Markup
from starlette.responses import Response

from kiln.server.deps import DbDep
from kiln.server.ui import _bars
from kiln.server.ui._route import UiRoute
from kiln.server.ui._session import Reader
from kiln.server.ui._templates import render

router = APIRouter(route_class=UiRoute)

NamePath = Annotated[str, Path(min_length=1, max_length=128)]
#: Views and on-demand views share one namespace, so they share the ``views`` pages.
_SEGMENTS = {
    "entity": "entities",
    "feature_view": "views",
    "on_demand_view": "views",
    "feature_service": "services",
}
_TEMPLATES = {
    "entity": "feature_entity.html",
    "feature_view": "feature_view.html",
    "on_demand_view": "feature_on_demand.html",
    "feature_service": "feature_service.html",
}


def definition_url(kind: str, name: str) -> str:
    """The page of a definition (``kind`` as stored: entity, feature_view, feature_service…)."""
    return f"/features/{_SEGMENTS[kind]}/{quote(name, safe='')}"


def model_version_url(model: str, version: int) -> str:
    return f"/models/{quote(model, safe='')}/versions/{version}"


def consumer_url(label: str) -> str:
    """The page of a consumer named ``model/version``."""
    model, _, version = label.rpartition("/")
    return model_version_url(model, int(version)) if version.isdigit() else "/models"


@dataclass(frozen=True, slots=True)
class FeatureStats:
    """One feature's statistics with its chart."""

    name: str
    dtype: str
    description: str
    stats: Mapping[str, Any]
    chart: Markup


def _chart(name: str, stats: Mapping[str, Any]) -> Markup:
    count, nulls = int(stats.get("count", 0)), int(stats.get("nulls", 0))
    if not count:
        return Markup("")
    if stats.get("true_share") is not None:
        true = round(float(stats["true_share"]) * (count - nulls))
        parts = [("true", true), ("false", count - nulls - true), ("null", nulls)]
        return _bars.top_values([p for p in parts if p[1]], 0, name)
    return _bars.top_values(
        [("present", count - nulls), ("null", nulls)], 0, f"{name} (present or null)"
    )


def _statistics(found: Mapping[str, Any]) -> list[FeatureStats]:
    declared = {f["name"]: f for f in found["schema"]["features"]}
    rows = []
    for name, stats in found["statistics"].items():
        feature = declared.get(name, {})
        rows.append(
            FeatureStats(
                name,
                str(stats.get("dtype", feature.get("dtype", "?"))),
                str(feature.get("description", "")),
                stats,
                _chart(name, stats),
            )
        )
    return rows


@router.get("/features")
def catalog_page(
    request: Request,
    db: DbDep,
    viewing: Reader,
    q: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Every entity, view and service; ``q`` searches them (as ``kiln features list -s``)."""
    from kiln.features._catalog import catalog

    entries = db.read(catalog, viewing.project, q)
    # An empty answer to a search differs from an empty project: say which.
    applied = bool(entries) or (bool(q) and bool(db.read(catalog, viewing.project)))
    return render(
        request,
        "features.html",
        viewing,
        title="Features",
        q=q or "",
        views=[e for e in entries if e.kind == "feature_view"],
        on_demand=[e for e in entries if e.kind == "on_demand_view"],
        services=[e for e in entries if e.kind == "feature_service"],
        entities=[e for e in entries if e.kind == "entity"],
        applied=applied,
        definition_url=definition_url,
        consumer_url=consumer_url,
    )


def _describe(db: DbDep, project: str, name: str, kinds: tuple[str, ...]) -> dict[str, Any]:
    """The first of ``kinds`` called ``name`` (the first kind's NotFound when none is)."""
    from kiln.errors import NotFound
    from kiln.features._describe import describe

    missing: NotFound | None = None
    for kind in kinds:
        try:
            found: dict[str, Any] = db.read(describe, project, name, kind)
        except NotFound as error:
            missing = missing or error
            continue
        return found
    assert missing is not None
    raise missing


def _page(request: Request, db: DbDep, viewing: Any, name: str, *kinds: str) -> Response:
    found = _describe(db, viewing.project, name, kinds)
    kind = found["kind"]
    return render(
        request,
        _TEMPLATES[kind],
        viewing,
        title=f"{kind.replace('_', ' ').capitalize()} {name}",
        found=found,
        statistics=_statistics(found) if kind == "feature_view" else [],
        definition_url=definition_url,
        model_version_url=model_version_url,
    )


@router.get("/features/views/{name}")
def view_page(request: Request, name: NamePath, db: DbDep, viewing: Reader) -> Response:
    """Schema, freshness, statistics per feature, consumers, versions, materializations.

    An on-demand view's page (inputs, transformation, consumers) is here too.
    """
    return _page(request, db, viewing, name, "feature_view", "on_demand_view")


@router.get("/features/services/{name}")
def service_page(request: Request, name: NamePath, db: DbDep, viewing: Reader) -> Response:
    """The service's features, the freshness of each view it reads, its consumers, versions."""
    return _page(request, db, viewing, name, "feature_service")


@router.get("/features/entities/{name}")
def entity_page(request: Request, name: NamePath, db: DbDep, viewing: Reader) -> Response:
    """The entity's join keys, the views keyed by it and who uses them."""
    return _page(request, db, viewing, name, "entity")
