"""``/api/v1/datasets``: versioned datasets, their versions, profiles and validation results.

Read-only, for viewers (datasets are registered from code with
``kiln.data.register_dataset``). ``{version}`` is a version number,
``latest`` or a prefix of the version id (7+ hex characters). A version's
profile is computed on first request and kept, as ``kiln datasets profile``
does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from kiln.data import Dataset
from kiln.server.api._json import jsonable
from kiln.server.deps import ContextDep, DbDep, RequestProject, Viewer
from kiln.server.responses import JSONResponse

router = APIRouter(prefix="/datasets", tags=["datasets"])

VersionPath = Annotated[str, Path(min_length=1, max_length=64)]
#: Display-histogram bins and frequent values per column a profile may ask for.
MAX_BINS = 200
MAX_TOP_K = 1000


def dataset_to_json(dataset: Dataset) -> dict[str, Any]:
    body: dict[str, Any] = jsonable(dataset)
    return body


def _name(name: str) -> str:
    from kiln.data._names import check_dataset_name

    return check_dataset_name(name, field="name")


def version_ref(name: str, version: str) -> str:
    """``name@version``, checked: a bad name or version is an ``InvalidInput`` naming it."""
    from kiln.data._names import parse_ref

    parse_ref(f"{_name(name)}@{version}", field="version")
    return f"{name}@{version}"


@router.get("")
def list_datasets(db: DbDep, caller: Viewer, project: RequestProject) -> JSONResponse:
    from kiln.data import _datasets

    return JSONResponse([dataset_to_json(d) for d in db.read(_datasets.list_datasets, project)])


@router.get("/{name}")
def get_dataset(name: str, db: DbDep, caller: Viewer, project: RequestProject) -> JSONResponse:
    from kiln.data import _datasets

    return JSONResponse(dataset_to_json(db.read(_datasets.get_dataset, project, _name(name))))


@router.get("/{name}/versions")
def list_versions(name: str, db: DbDep, caller: Viewer, project: RequestProject) -> JSONResponse:
    """The dataset's versions, newest first."""
    from kiln.data import _datasets

    found = db.read(_datasets.list_versions, project, _name(name))
    return JSONResponse([v.to_dict() for v in found])


@router.get("/{name}/validations")
def list_dataset_validations(
    name: str, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    """Recorded validations of every version of the dataset, newest first."""
    from kiln.data import _records

    found = db.read(_records.list_validations, project, _name(name))
    return JSONResponse([report.to_dict() for report in found])


@router.get("/{name}/versions/{version}")
def get_version(
    name: str, version: VersionPath, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    from kiln.data import _datasets

    found = db.read(_datasets.get_version, project, version_ref(name, version))
    return JSONResponse(found.to_dict())


@router.get("/{name}/versions/{version}/profile")
def get_profile(
    name: str,
    version: VersionPath,
    context: ContextDep,
    caller: Viewer,
    project: RequestProject,
    bins: Annotated[int, Query(ge=1, le=MAX_BINS)] = 20,
    top_k: Annotated[int, Query(ge=1, le=MAX_TOP_K)] = 20,
) -> JSONResponse:
    """Per-column statistics of the version: counts, nulls, range, quantiles, histogram, top."""
    from kiln.data import _service

    profile, _ = _service.version_profile(
        context.db,
        context.artifacts,
        project,
        version_ref(name, version),
        bins=bins,
        top_k=top_k,
    )
    return JSONResponse(profile.to_dict())


@router.get("/{name}/versions/{version}/validations")
def list_version_validations(
    name: str, version: VersionPath, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    """Recorded validations of this version, newest first, every check with its evidence."""
    from kiln.data import _records

    found = db.read(_records.list_validations, project, version_ref(name, version))
    return JSONResponse([report.to_dict() for report in found])
