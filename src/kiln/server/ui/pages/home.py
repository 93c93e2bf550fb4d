"""Home (the project's recent activity) and the search results page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from kiln.server.deps import DbDep
from kiln.server.ui._route import UiRoute
from kiln.server.ui._search import search_everything
from kiln.server.ui._session import Reader
from kiln.server.ui._templates import render

router = APIRouter(route_class=UiRoute)

_FEED = 12


@dataclass(frozen=True, slots=True)
class Activity:
    at: datetime
    kind: str
    text: str
    url: str
    who: str = ""


def _at(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("/")
def home(request: Request, db: DbDep, viewing: Reader) -> Response:
    from kiln.registry import _aliases
    from kiln.registry import _search as registry_search
    from kiln.tracking import _search

    project = viewing.project
    runs, _ = db.read(
        _search.search_runs, project, order_by=["attributes.start_time DESC"], max_results=_FEED
    )
    experiments, _ = db.read(_search.search_experiments, project, max_results=1000)
    models, _ = db.read(registry_search.search_registered_models, project, max_results=1000)
    versions, _ = db.read(
        registry_search.search_model_versions,
        project,
        order_by=["creation_timestamp DESC"],
        max_results=_FEED,
    )
    moves = db.read(_aliases.recent_alias_events, project, limit=_FEED)
    feed = [
        Activity(
            _at(run.start_time),
            "run",
            f"run {run.name or run.id[:8]} {run.status.value.lower()}",
            f"/runs/{run.id}",
            run.user,
        )
        for run in runs
    ]
    feed += [
        Activity(
            _aware(v.created_at),
            "version",
            f"{v.name} v{v.version} registered" + (f" ({v.flavor})" if v.flavor else ""),
            f"/models/{v.name}/versions/{v.version}",
            v.created_by,
        )
        for v in versions
    ]
    feed += [
        Activity(
            _aware(e.at),
            "alias",
            f"{e.name}@{e.alias} {e.action.value}"
            + (f" → v{e.to_version}" if e.to_version is not None else " removed"),
            f"/models/{e.name}",
            e.actor,
        )
        for e in moves
    ]
    feed.sort(key=lambda item: item.at, reverse=True)
    return render(
        request,
        "home.html",
        viewing,
        title="Home",
        feed=feed[: _FEED * 2],
        counts={
            "experiments": len(experiments),
            "models": len(models),
            "latest run": runs[0].start_time if runs else None,
        },
        experiments=experiments[:8],
        models=models[:8],
    )


@router.get("/search")
def search(
    request: Request,
    db: DbDep,
    viewing: Reader,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    hits = search_everything(db, viewing.project, q)
    groups: dict[str, list[object]] = {}
    for hit in hits:
        groups.setdefault(hit.kind, []).append(hit)
    return render(request, "search.html", viewing, title="Search", query=q, groups=groups)
