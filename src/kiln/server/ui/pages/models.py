"""Models: the registered models, one model (versions, aliases, gates, history), one version.

Pages only read, through the registry's services as the API does. Promoting,
rolling back and removing an alias are forms and buttons that call the JSON
API from the page (``kiln.js``), so the API's roles, gates and audit log
decide; the controls are rendered for editors only, and the API refuses
anyone else anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from kiln.auth import Role
from kiln.errors import InvalidInput, KilnError
from kiln.registry import Gate, ModelVersion, RegisteredModel
from kiln.server.deps import DbDep, get_context
from kiln.server.ui._route import UiRoute
from kiln.server.ui._session import Reader, Viewing
from kiln.server.ui._templates import render

if TYPE_CHECKING:
    from kiln.models import Manifest

router = APIRouter(route_class=UiRoute)

PAGE_SIZE = 50
#: Alias events shown on a model's page; the API and the CLI give the rest.
HISTORY_LIMIT = 100
#: A manifest larger than this is not read while rendering a page.
MANIFEST_MAX_BYTES = 256 * 1024
_FIRST = "~"  # the first page's (empty) token inside ``trail``; never a base64 character
_ORDERS = {"name": ["name ASC"], "updated": ["last_updated_timestamp DESC"]}

TokenQuery = Annotated[str, Query(max_length=512)]
TrailQuery = Annotated[str, Query(max_length=16_384)]


@dataclass(frozen=True, slots=True)
class Pager:
    """Links of a paged list: registry page tokens only go forward, so ``trail`` keeps
    the tokens of the pages before this one (comma-separated) for "Previous"."""

    previous_url: str | None
    next_url: str | None
    summary: str


def _pager(request: Request, token: str, trail: str, next_token: str | None, shown: int) -> Pager:
    before = [("" if t == _FIRST else t) for t in trail.split(",")] if trail else []

    def url(page_token: str, tokens: list[str]) -> str:
        params = {k: v for k, v in request.query_params.items() if k not in ("page_token", "trail")}
        if page_token:
            params["page_token"] = page_token
        if tokens:
            params["trail"] = ",".join(t or _FIRST for t in tokens)
        query = urlencode(params)
        return request.url.path + (f"?{query}" if query else "")

    number = len(before) + 1
    first = (number - 1) * PAGE_SIZE + 1
    summary = f"{first}-{first + shown - 1}" if shown else "none"
    return Pager(
        previous_url=url(before[-1], before[:-1]) if before else None,
        next_url=url(next_token, [*before, token]) if next_token else None,
        summary=f"page {number} · {summary}",
    )


def model_url(name: str) -> str:
    return f"/models/{quote(name, safe='')}"


def api_url(name: str) -> str:
    return f"/api/v1/registered-models/{quote(name, safe='')}"


def _partial(request: Request) -> bool:
    return request.headers.get("x-kiln-partial") == "1"


@router.get("/models")
def models_list(
    request: Request,
    db: DbDep,
    viewing: Reader,
    q: Annotated[str, Query(max_length=2000)] = "",
    order: Literal["name", "updated"] = "name",
    page_token: TokenQuery = "",
    trail: TrailQuery = "",
) -> Response:
    """The project's registered models; ``q`` is the registry's filter language."""
    from kiln.registry import _search

    error, next_token = "", None
    models: list[RegisteredModel] = []
    try:
        models, next_token = db.read(
            _search.search_registered_models,
            viewing.project,
            filter_string=q,
            order_by=_ORDERS[order],
            max_results=PAGE_SIZE,
            page_token=page_token or None,
        )
    except InvalidInput as refused:  # shown beside the filter box, which stays editable
        error = refused.message
    return render(
        request,
        "models_list.html" if _partial(request) else "models.html",
        viewing,
        status_code=400 if error else 200,
        title="Models",
        query=q,
        order=order,
        error=error,
        models=models,
        pager=_pager(request, page_token, trail, next_token, len(models)),
        model_url=model_url,
    )


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _can_force(viewing: Viewing) -> bool:
    return viewing.role is not None and viewing.role.allows(Role.ADMIN)


@dataclass(frozen=True, slots=True)
class AliasRow:
    """An alias of the model: set or not (a gate may wait for it), its gate, its rollback."""

    name: str
    version: int | None
    gate: Gate | None
    can_roll_back: bool
    rollback_to: int | None


@router.get("/models/{name}")
def model_page(
    request: Request,
    name: str,
    db: DbDep,
    viewing: Reader,
    page_token: TokenQuery = "",
    trail: TrailQuery = "",
    alias: Annotated[str, Query(max_length=256)] = "",
) -> Response:
    """Versions (paged, newest first), aliases with their gates, and the alias history."""
    from kiln.registry import _aliases, _gates, _models, _search

    project = viewing.project
    model = db.read(_models.get_registered_model, project, name)
    versions, next_token = db.read(
        _search.search_model_versions,
        project,
        filter_string=f"name = {_quoted(name)}",
        order_by=["version DESC"],
        max_results=PAGE_SIZE,
        page_token=page_token or None,
    )
    gates = {gate.alias: gate for gate in db.read(_gates.list_gates, project, name)}
    targets = db.read(_aliases.rollback_targets, project, name)
    history = db.read(_aliases.alias_history, project, name, None)
    names = sorted({*model.aliases, *gates, *targets})
    aliases = [
        AliasRow(a, model.aliases.get(a), gates.get(a), a in targets, targets.get(a)) for a in names
    ]
    known = sorted({event.alias for event in history} | set(names))
    shown = [event for event in history if not alias or event.alias == alias]
    return render(
        request,
        "model.html",
        viewing,
        title=name,
        model=model,
        versions=versions,
        pager=_pager(request, page_token, trail, next_token, len(versions)),
        aliases=aliases,
        known_aliases=known,
        history=shown[:HISTORY_LIMIT],
        history_total=len(shown),
        history_alias=alias,
        can_force=_can_force(viewing),
        model_url=model_url(name),
        api_url=api_url(name),
    )


@dataclass(frozen=True, slots=True)
class ManifestView:
    """What a page shows of a version's ``kiln-model.yaml``, or why it shows nothing."""

    manifest: Manifest | None = None
    note: str = ""


def read_manifest(request: Request, version: ModelVersion) -> ManifestView:
    """The version's manifest when it is a small blob of the artifact store, else a note.

    Versions from ``runs:/`` record the manifest artifact's digest, so the file
    is one small content-addressed read; folders and MLflow sources are not read.
    """
    from kiln.models import Manifest

    digest = version.manifest_sha256
    if not digest:
        return ManifestView(note="registered without a Kiln manifest (not in Kiln's format)")
    artifacts = get_context(request).artifacts
    try:
        if not artifacts.exists(digest):
            return ManifestView(note="the manifest is in the version's source, not in Kiln's store")
        size = artifacts.size(digest)
        if size > MANIFEST_MAX_BYTES:
            return ManifestView(note=f"the manifest is large ({size:,} bytes): not read here")
        text = artifacts.read_bytes(digest).decode("utf-8")
        return ManifestView(Manifest.from_yaml(text))
    except (KilnError, OSError, UnicodeDecodeError) as error:
        return ManifestView(note=f"the manifest could not be read: {error}")


@router.get("/models/{name}/versions/{version}")
def version_page(
    request: Request,
    name: str,
    version: Annotated[str, Path(max_length=32)],
    db: DbDep,
    viewing: Reader,
) -> Response:
    """One version: where it comes from, its digest, flavor, signature, requirements, tags."""
    from kiln.registry import _aliases, _gates, _models, _versions

    project = viewing.project
    if version == "latest":
        found = db.read(_versions.latest_model_version, project, name)
    else:
        found = db.read(_versions.get_model_version, project, name, version)
    model = db.read(_models.get_registered_model, project, name)
    gates = [gate.alias for gate in db.read(_gates.list_gates, project, name)]
    moves = [
        event
        for event in db.read(_aliases.alias_history, project, name, None)
        if found.version in (event.from_version, event.to_version)
    ]
    files = read_manifest(request, found)
    return render(
        request,
        "model_version.html",
        viewing,
        title=f"{name} v{found.version}",
        model=model,
        version=found,
        manifest=files.manifest,
        manifest_note=files.note,
        known_aliases=sorted({*model.aliases, *gates}),
        history=moves[:HISTORY_LIMIT],
        can_force=_can_force(viewing),
        model_url=model_url(name),
        api_url=api_url(name),
    )
