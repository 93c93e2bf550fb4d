"""``/api/v1/features``: the feature catalog, one definition, online reads and pushes.

Viewers search the catalog (``GET /features?q=``), describe a definition
(``GET /features/{views|services|entities}/{name}``) and read online
features (``POST /features/online``, a read with a body) or check a view
for training/serving skew (``GET /features/views/{name}/skew``); editors push
rows (``POST /features/push``). Online reads and pushes go through one
``FeatureStore`` per project held for the app's context, so a read costs
the store's own work plus one indexed check that no apply changed the
definitions; like every sync route they run in the threadpool.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from kiln.context import Context
from kiln.errors import InvalidInput
from kiln.server.api._json import jsonable
from kiln.server.deps import ContextDep, DbDep, Editor, RequestProject, Viewer
from kiln.server.middleware import note_audit_target
from kiln.server.responses import JSONResponse

if TYPE_CHECKING:
    from kiln.features import FeatureStore

router = APIRouter(prefix="/features", tags=["features"])

NamePath = Annotated[str, Path(min_length=1, max_length=128)]
#: Entity rows one online read may ask for.
MAX_ENTITIES = 10_000
#: Keys one skew check over HTTP may sample.
MAX_SKEW_SAMPLE = 10_000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OnlineRead(_Body):
    features: list[str] | None = Field(
        default=None, description="'view:feature' references; or give feature_service."
    )
    feature_service: str | None = Field(default=None, description="An applied service's name.")
    entities: Any = Field(
        description='{"customer_id": [1, 2]} or [{"customer_id": 1}, {"customer_id": 2}]'
    )
    full_feature_names: bool = Field(
        default=False, description="Name features view__feature instead of feature."
    )


class Push(_Body):
    view: str = Field(min_length=1, max_length=128)
    rows: list[Any] = Field(description="Objects of join keys, event time and features.")


_STORES: weakref.WeakKeyDictionary[Context, dict[str, FeatureStore]] = weakref.WeakKeyDictionary()
_STORES_LOCK = threading.Lock()


def store_for(context: Context, project: str) -> FeatureStore:
    """The app's feature store of ``project``, made on first use and kept.

    The context's own project uses ``kiln.features.feature_store(context)``;
    another project (a token scoped to it) gets a store over a copy of the
    settings naming it, sharing the context's connection pool.
    """
    from kiln.features import FeatureStore, feature_store

    if project == context.settings.project:
        return feature_store(context)
    with _STORES_LOCK:
        stores = _STORES.setdefault(context, {})
        store = stores.get(project)
        if store is None:
            store = stores[project] = FeatureStore(context.for_project(project))
    return store


@router.get("")
def search_catalog(
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    q: Annotated[str | None, Query(max_length=500)] = None,
) -> JSONResponse:
    """Entities, feature views and services, optionally those matching ``q``."""
    from kiln.features._catalog import catalog

    return JSONResponse([jsonable(entry.to_dict()) for entry in db.read(catalog, project, q)])


@router.post("/online")
def read_online(
    body: OnlineRead, context: ContextDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    """The current values, statuses and event times of features for some entities."""
    from kiln.features._wire import entity_rows, join_key_types

    if (body.features is None) == (body.feature_service is None):
        raise InvalidInput(
            "give either features (a list of 'view:feature' references) or feature_service "
            "(an applied service's name)" + (", not both" if body.features is not None else ""),
            field="features",
        )
    store = store_for(context, project)
    wanted: list[str] | str
    if body.feature_service is not None:
        wanted = body.feature_service
        references = store.service(body.feature_service).references()
    else:
        wanted = references = body.features or []
    rows = entity_rows(body.entities, join_key_types(store.definitions().views, references))
    count = len(rows) if isinstance(rows, list) else max(map(len, rows.values()), default=0)
    if count > MAX_ENTITIES:
        raise InvalidInput(
            f"{count:,} entity rows asked for; at most {MAX_ENTITIES:,} per read, so split "
            "the request",
            field="entities",
        )
    try:
        found = store.get_online_features(rows, wanted, full_feature_names=body.full_feature_names)
    except InvalidInput as error:
        raise _as_entities(error) from None
    return JSONResponse(found.to_json())


def _as_entities(error: InvalidInput) -> InvalidInput:
    """The store's error about ``entity_rows``, in the words of this body (``entities``)."""
    if not (error.field or "").startswith("entity_rows"):
        return error
    return InvalidInput(
        error.message.replace("entity_rows", "entities"),
        field=(error.field or "").replace("entity_rows", "entities"),
    )


@router.post("/push")
def push_rows(
    body: Push, request: Request, context: ContextDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """Write fresh rows of a push-sourced view online and to its offline log."""
    from kiln.features._wire import pushed_rows

    note_audit_target(request.scope, view=body.view)
    store = store_for(context, project)
    view = store.view(body.view)
    pushed = store.push(view.name, pushed_rows(view, body.rows))
    return JSONResponse({"view": view.name, "pushed": pushed})


@router.get("/views/{name}/skew")
def check_view_skew(
    name: NamePath,
    context: ContextDep,
    caller: Viewer,
    project: RequestProject,
    sample: int = 100,
    seed: int = 0,
    tolerance: float = 1e-9,
) -> JSONResponse:
    """The skew check of one view: a sample of online rows against what training reads."""
    if sample > MAX_SKEW_SAMPLE:
        raise InvalidInput(
            f"sample {sample:,} is too large; at most {MAX_SKEW_SAMPLE:,} keys per check",
            field="sample",
        )
    report = store_for(context, project).check_skew(
        [name], sample=sample, seed=seed, tolerance=tolerance
    )
    return JSONResponse(jsonable(report.to_dict()))


@router.get("/{kind}/{name}")
def describe_definition(
    kind: Annotated[str, Path(max_length=32)],
    name: NamePath,
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
) -> JSONResponse:
    """Everything about one definition: spec, versions, schema, statistics, consumers."""
    from kiln.features._catalog import kind_of
    from kiln.features._describe import describe

    return JSONResponse(jsonable(db.read(describe, project, name, kind_of(kind))))
