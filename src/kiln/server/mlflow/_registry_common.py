"""What the MLflow registry routes share: request bodies, stages as aliases, JSON shapes.

See ``kiln.server.mlflow.registry`` for how MLflow's stages map onto aliases.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.db.tables import ModelVersionRow
from kiln.errors import InvalidInput
from kiln.registry import _models, _versions
from kiln.registry._entities import ModelVersion, RegisteredModel
from kiln.registry._rows import load_versions, model_row
from kiln.server.middleware import note_audit_target
from kiln.server.mlflow._route import KeyValue
from kiln.server.mlflow._route import MlflowBody as _Body

#: MLflow stage → the Kiln alias that stands for it (``None``/``Archived``: no alias).
STAGE_ALIASES = {"Production": "production", "Staging": "staging"}
#: MLflow's stages, in the order ``get-latest-versions`` reports them.
STAGES = ("None", "Staging", "Production", "Archived")
_STAGE_NAMES = {stage.lower(): stage for stage in STAGES}
#: MLflow marks prompts (kept in its model registry) with this tag.
PROMPT_TAG = "mlflow.prompt.is_prompt"


class ModelRef(_Body):
    name: str = ""


class CreateModel(ModelRef):
    description: str | None = None
    tags: list[KeyValue] = Field(default_factory=list)


class RenameModel(ModelRef):
    new_name: str = ""


class UpdateModel(ModelRef):
    description: str | None = None


class ModelTag(ModelRef):
    key: str = ""
    value: str = ""


class AliasRef(ModelRef):
    alias: str = ""


class SetAlias(AliasRef):
    version: str = ""


class LatestVersions(ModelRef):
    stages: list[str] = Field(default_factory=list)


class VersionRef(ModelRef):
    version: str = ""


class CreateVersion(ModelRef):
    source: str = ""
    run_id: str | None = None
    description: str | None = None
    tags: list[KeyValue] = Field(default_factory=list)


class UpdateVersion(VersionRef):
    description: str | None = None


class VersionTag(VersionRef):
    key: str = ""
    value: str = ""


class TransitionStage(VersionRef):
    stage: str = ""
    archive_existing_versions: bool = False


# -- JSON shapes -----------------------------------------------------------------------------
def ms(value: datetime) -> int:
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def current_stage(aliases: Sequence[str]) -> str:
    """The MLflow stage a version's aliases stand for."""
    for stage, alias in STAGE_ALIASES.items():
        if alias in aliases:
            return stage
    return "None"


def version_json(version: ModelVersion) -> dict[str, Any]:
    return {
        "name": version.name,
        "version": str(version.version),
        "creation_timestamp": ms(version.created_at),
        "last_updated_timestamp": ms(version.updated_at),
        "user_id": version.created_by,
        "current_stage": current_stage(version.aliases),
        "description": version.description,
        "source": version.source,
        "run_id": version.run_id or "",
        "status": version.status.value,
        "tags": [{"key": k, "value": v} for k, v in sorted(version.tags.items())],
        "aliases": sorted(version.aliases),
    }


def stage_name(stage: str) -> str:
    found = _STAGE_NAMES.get(stage.strip().lower())
    if found is None:
        raise InvalidInput(
            f"invalid model version stage {stage!r}; expected one of {', '.join(STAGES)}",
            field="stage",
        )
    return found


def latest_versions(
    session: Session, project: str, model: RegisteredModel, stages: Sequence[str] = ()
) -> list[ModelVersion]:
    """The newest version of each stage (all stages when ``stages`` is empty)."""
    wanted = {stage_name(stage) for stage in stages} or set(STAGES)
    found: list[ModelVersion] = []
    for stage in STAGES:
        if stage not in wanted:
            continue
        if stage in STAGE_ALIASES:
            number = model.aliases.get(STAGE_ALIASES[stage])
            if number is not None:
                version = _versions.get_model_version(session, project, model.name, number)
                if current_stage(version.aliases) == stage:
                    found.append(version)
        elif stage == "None" and model.latest_version is not None:
            staged = [n for alias, n in model.aliases.items() if alias in STAGE_ALIASES.values()]
            row = session.scalar(
                select(ModelVersionRow)
                .where(
                    ModelVersionRow.model_id == model_row(session, project, model.name).id,
                    ModelVersionRow.version.notin_(staged),
                )
                .order_by(ModelVersionRow.version.desc())
                .limit(1)
            )
            if row is not None:
                found.extend(load_versions(session, [row]))
    return found


def model_json(session: Session, project: str, model: RegisteredModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "creation_timestamp": ms(model.created_at),
        "last_updated_timestamp": ms(model.updated_at),
        "description": model.description,
        "latest_versions": [version_json(v) for v in latest_versions(session, project, model)],
        "tags": [{"key": k, "value": v} for k, v in sorted(model.tags.items())],
        "aliases": [
            {"alias": alias, "version": str(number)}
            for alias, number in sorted(model.aliases.items())
        ],
    }


def model_out(session: Session, project: str, name: str) -> dict[str, Any]:
    return {
        "registered_model": model_json(
            session, project, _models.get_registered_model(session, project, name)
        )
    }


def target(request: Request, **fields: object) -> None:
    note_audit_target(request.scope, **fields)


#: The clause MLflow clients append to every registered-model search to leave prompts out.
PROMPT_FILTER = f"tag.`{PROMPT_TAG}` != 'true'"


def without_prompt_filter(filter_string: str) -> tuple[str, bool]:
    """``filter_string`` without the prompt clause MLflow appends, and whether it was there.

    In Kiln's filter language a ``!=`` on a tag matches only models having the
    tag, so the clause would hide every model; prompts are left out afterwards.
    """
    text = filter_string.strip()
    if text == PROMPT_FILTER:
        return "", True
    suffix = f" AND {PROMPT_FILTER}"
    if text.endswith(suffix):
        return text[: -len(suffix)], True
    return filter_string, False


def search_params(request: Request, default_max: int) -> tuple[str, list[str], int, str | None]:
    query = request.query_params
    text = query.get("max_results") or str(default_max)
    try:
        max_results = int(text)
    except ValueError:
        raise InvalidInput(
            f"max_results must be a whole number, got {text!r}", field="max_results"
        ) from None
    return (
        query.get("filter", ""),
        query.getlist("order_by"),
        max_results,
        query.get("page_token") or None,
    )


# -- registered models -----------------------------------------------------------------------
