"""Importing MLflow registered models, versions and aliases into Kiln's registry."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kiln.artifacts import validate_artifact_path
from kiln.db.tables import (
    ModelVersionRow,
    ModelVersionTagRow,
    ProjectRow,
    RegisteredModelRow,
)
from kiln.errors import InvalidInput, KilnError, NotFound
from kiln.registry import _aliases, _models, _versions
from kiln.registry._names import check_alias, check_model_name
from kiln.tracking._names import (
    MAX_TAG_VALUE_LENGTH,
)

if TYPE_CHECKING:
    from kiln.context import Context

from kiln.migration._mlflow_common import ACTOR, SOURCE_VERSION_TAG, ImportSummary, _Keys
from kiln.migration._mlflow_source import _pages, _source_versions

_RUN_ARTIFACT_SOURCE = re.compile(r"/(?P<run>[0-9a-f]{32})/artifacts/(?P<path>.+)$")
#: ``models:/m-…`` (MLflow 3 logged model) or that model's artifact location.
_LOGGED_MODEL_SOURCE = re.compile(
    r"^models:/(?P<id>m-[0-9a-f]+)/?$|/models/(?P<in>m-[0-9a-f]+)/artifacts/?$"
)


def _logged_model_source(version: Any, model_ids: dict[str, str]) -> str | None:
    """``models:/<Kiln id>`` when the version is of a logged model that was imported."""
    source_model = getattr(version, "model_id", None)
    if not source_model:
        match = _LOGGED_MODEL_SOURCE.search(str(version.source or ""))
        source_model = match and (match.group("id") or match.group("in"))
    kiln_model = model_ids.get(source_model or "")
    return f"models:/{kiln_model}" if kiln_model else None


def _version_source(
    version: Any, run_ids: dict[str, str], model_ids: dict[str, str] | None = None
) -> tuple[str, str | None]:
    """``(source, Kiln run id)`` of an MLflow version: ``runs:/`` when its run was imported,
    ``models:/<Kiln logged model id>`` when its logged model was."""
    source = str(version.source or "")
    kiln_run = run_ids.get(version.run_id or "")
    logged = _logged_model_source(version, model_ids or {})
    if logged is not None:
        return logged, kiln_run
    if kiln_run is None:
        return source, None
    path: str | None = None
    if source.startswith("runs:/"):
        _, _, rest = source[len("runs:/") :].partition("/")
        path = rest.strip("/")
    else:
        match = _RUN_ARTIFACT_SOURCE.search(source)
        if match is not None and match.group("run") == version.run_id:
            path = match.group("path").strip("/")
    if path:
        try:
            return f"runs:/{kiln_run}/{validate_artifact_path(path)}", kiln_run
        except KilnError:
            pass
    return source, kiln_run


def _imported_versions(session: Session, project: str, name: str) -> dict[int, int]:
    """MLflow version number -> Kiln version number for model ``name``."""
    rows = session.execute(
        select(ModelVersionTagRow.value, ModelVersionRow.version)
        .join(ModelVersionRow, ModelVersionRow.id == ModelVersionTagRow.version_id)
        .join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
        .join(ProjectRow, ProjectRow.id == RegisteredModelRow.project_id)
        .where(
            ModelVersionTagRow.key == SOURCE_VERSION_TAG,
            RegisteredModelRow.name == name,
            ProjectRow.name == project,
        )
    )
    return {int(value): version for value, version in rows if str(value).isdigit()}


def _ensure_model(
    session: Session, project: str, model: Any, tags: dict[str, str]
) -> tuple[bool, dict[int, int]]:
    try:
        _models.get_registered_model(session, project, model.name)
        created = False
    except NotFound:
        _models.create_registered_model(
            session, project, model.name, description=model.description or "", tags=tags
        )
        created = True
    return created, _imported_versions(session, project, model.name)


def _add_version(
    session: Session,
    project: str,
    name: str,
    number: int,
    source: str,
    run_id: str | None,
    description: str,
    user: str,
    tags: dict[str, str],
) -> int:
    # Keep MLflow's number when nothing in Kiln is in the way.
    session.execute(
        update(RegisteredModelRow)
        .where(
            RegisteredModelRow.name == name,
            RegisteredModelRow.project_id
            == select(ProjectRow.id).where(ProjectRow.name == project).scalar_subquery(),
            RegisteredModelRow.last_version < number - 1,
        )
        .values(last_version=number - 1)
    )
    return _versions.create_model_version(
        session,
        project,
        name,
        source,
        run_id=run_id,
        description=description,
        user=user,
        tags={**tags, SOURCE_VERSION_TAG: str(number)},
        require_manifest=False,
    ).version


def _set_alias(session: Session, project: str, name: str, alias: str, version: int) -> bool:
    """Set ``alias`` unless Kiln already has it; True when it was set."""
    try:
        _aliases.get_version_by_alias(session, project, name, alias)
        return False
    except NotFound:
        pass
    _aliases.set_alias(
        session,
        project,
        name,
        alias,
        version,
        actor=ACTOR,
        force=True,
        note="imported from MLflow",
    )
    return True


def _import_registry(
    context: Context,
    client: Any,
    summary: ImportSummary,
    selected_runs: set[str] | None,
    dry_run: bool,
) -> None:
    project = context.settings.project
    models = list(
        _pages(lambda token: client.search_registered_models(max_results=1000, page_token=token))
    )
    for listed in sorted(models, key=lambda m: m.name):
        model = client.get_registered_model(listed.name)
        where = f"model {model.name!r}"
        try:
            check_model_name(model.name)
        except InvalidInput:
            summary.skipped.append(f"{where}: not a valid Kiln model name")
            continue
        versions = _source_versions(client, model.name)
        if selected_runs is not None:
            versions = [v for v in versions if (v.run_id or "") in selected_runs]
            if not versions:
                continue
        tags = dict(_Keys(summary, where).items(dict(model.tags), MAX_TAG_VALUE_LENGTH, "tag"))
        if dry_run:
            try:
                context.db.read(_models.get_registered_model, project, model.name)
                have = context.db.read(_imported_versions, project, model.name)
            except NotFound:
                summary.models_created += 1
                have = {}
        else:
            created, have = context.db.run(_ensure_model, project, model, tags)
            summary.models_created += int(created)
        for version in versions:
            number = int(version.version)
            if number in have:
                summary.versions_skipped += 1
                continue
            summary.versions_imported += 1
            if dry_run:
                have[number] = number
                continue
            source, run_id = _version_source(version, summary.run_ids, summary.logged_model_ids)
            version_tags = dict(
                _Keys(summary, f"{where} version {number}").items(
                    dict(version.tags or {}), MAX_TAG_VALUE_LENGTH, "tag"
                )
            )
            have[number] = context.db.run(
                _add_version,
                project,
                model.name,
                number,
                source,
                run_id,
                version.description or "",
                version.user_id or "",
                version_tags,
            )
        for alias, target in sorted((model.aliases or {}).items()):
            try:
                check_alias(alias)
            except InvalidInput:
                summary.skipped.append(f"{where}: alias {alias!r} (not a valid Kiln alias)")
                continue
            kiln_version = have.get(int(target))
            if kiln_version is None:
                if selected_runs is None:
                    summary.skipped.append(f"{where}: alias {alias!r} (version {target} missing)")
                continue
            if dry_run:
                summary.aliases_set += 1
                continue
            if context.db.run(_set_alias, project, model.name, alias, kiln_version):
                summary.aliases_set += 1
            else:
                summary.aliases_kept += 1
