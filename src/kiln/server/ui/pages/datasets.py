"""Datasets: the project's datasets, one dataset's versions, one version's profile and checks.

Read-only, through ``kiln.data``'s services as the API does. A version's
profile is computed on its first view and kept (``kiln datasets profile``
does the same), so later views read one row; the histograms and top values
are drawn on the server as small SVG bar charts (``_bars.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Request
from markupsafe import Markup
from starlette.responses import Response

from kiln.data import ColumnProfile, Profile, ValidationReport
from kiln.server.deps import ContextDep, DbDep
from kiln.server.ui import _bars
from kiln.server.ui._route import UiRoute
from kiln.server.ui._session import Reader
from kiln.server.ui._templates import render

router = APIRouter(route_class=UiRoute)

#: Validations listed on a dataset's page (a version's page lists all of its own).
VALIDATIONS_SHOWN = 20


def dataset_url(name: str) -> str:
    return f"/datasets/{quote(name, safe='')}"


def version_url(name: str, version: int | str) -> str:
    return f"{dataset_url(name)}/versions/{quote(str(version), safe='')}"


def lineage_url(ref: str) -> str:
    return "/lineage?" + urlencode({"node": ref})


@router.get("/datasets")
def datasets_list(request: Request, db: DbDep, viewing: Reader) -> Response:
    from kiln.data import _datasets

    return render(
        request,
        "datasets.html",
        viewing,
        title="Datasets",
        datasets=db.read(_datasets.list_datasets, viewing.project),
        dataset_url=dataset_url,
        version_url=version_url,
    )


@router.get("/datasets/{name}")
def dataset_page(request: Request, name: str, db: DbDep, viewing: Reader) -> Response:
    """The dataset's versions, newest first, and its recent validations."""
    from kiln.data import _datasets, _records
    from kiln.data._names import check_dataset_name

    check_dataset_name(name, field="name")
    dataset = db.read(_datasets.get_dataset, viewing.project, name)
    versions = db.read(_datasets.list_versions, viewing.project, name)
    validations = db.read(_records.list_validations, viewing.project, name)
    return render(
        request,
        "dataset.html",
        viewing,
        title=f"Dataset {name}",
        dataset=dataset,
        versions=versions,
        validations=validations[:VALIDATIONS_SHOWN],
        validations_total=len(validations),
        dataset_url=dataset_url(name),
        version_url=version_url,
    )


@dataclass(frozen=True, slots=True)
class ColumnView:
    """A column's statistics with its chart: a histogram, or its most frequent values."""

    column: ColumnProfile
    chart: Markup


def _columns(profile: Profile) -> list[ColumnView]:
    views = []
    for column in profile:
        if column.histogram is not None:
            chart = _bars.histogram(column.histogram.edges, column.histogram.counts, column.name)
        else:
            chart = _bars.top_values(column.top, column.other, column.name)
        views.append(ColumnView(column, chart))
    return views


@router.get("/datasets/{name}/versions/{version}")
def version_page(
    request: Request,
    name: str,
    version: Annotated[str, Path(min_length=1, max_length=64)],
    context: ContextDep,
    viewing: Reader,
) -> Response:
    """Schema, blobs, the profile per column (with histograms) and every validation."""
    from kiln.data import _records, _service
    from kiln.data._names import check_dataset_name, parse_ref

    check_dataset_name(name, field="name")
    ref = f"{name}@{version}"
    parse_ref(ref, field="version")
    profile, key = _service.version_profile(context.db, context.artifacts, viewing.project, ref)
    found = key.version
    validations: list[ValidationReport] = context.db.read(
        _records.list_validations, viewing.project, found.uri
    )
    return render(
        request,
        "dataset_version.html",
        viewing,
        title=f"{found.uri}",
        version=found,
        profile=profile,
        columns=_columns(profile),
        validations=validations,
        dataset_url=dataset_url(name),
        lineage=lineage_url(f"dataset:{found.uri}"),
    )
