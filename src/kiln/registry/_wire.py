"""The JSON form of registry entities, shared by the REST API and the remote backend."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kiln.registry._checks import check_to_json, parse_checks, result_from_json, result_to_json
from kiln.registry._entities import (
    AliasAction,
    AliasEvent,
    Gate,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def model_to_json(model: RegisteredModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "project": model.project,
        "description": model.description,
        "created_at": _time(model.created_at),
        "updated_at": _time(model.updated_at),
        "latest_version": model.latest_version,
        "tags": model.tags,
        "aliases": model.aliases,
    }


def model_from_json(data: dict[str, Any]) -> RegisteredModel:
    return RegisteredModel(
        name=data["name"],
        project=data["project"],
        description=data.get("description", ""),
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        latest_version=data.get("latest_version"),
        tags=dict(data.get("tags", {})),
        aliases={k: int(v) for k, v in data.get("aliases", {}).items()},
    )


def version_to_json(version: ModelVersion) -> dict[str, Any]:
    return {
        "name": version.name,
        "version": version.version,
        "source": version.source,
        "run_id": version.run_id,
        "manifest_sha256": version.manifest_sha256,
        "flavor": version.flavor,
        "description": version.description,
        "status": version.status.value,
        "created_at": _time(version.created_at),
        "updated_at": _time(version.updated_at),
        "created_by": version.created_by,
        "tags": version.tags,
        "aliases": list(version.aliases),
    }


def version_from_json(data: dict[str, Any]) -> ModelVersion:
    return ModelVersion(
        name=data["name"],
        version=int(data["version"]),
        source=data["source"],
        run_id=data.get("run_id"),
        manifest_sha256=data.get("manifest_sha256", ""),
        flavor=data.get("flavor", ""),
        description=data.get("description", ""),
        status=ModelVersionStatus(data.get("status", "READY")),
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        created_by=data.get("created_by", ""),
        tags=dict(data.get("tags", {})),
        aliases=tuple(data.get("aliases", ())),
    )


def event_to_json(event: AliasEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "name": event.name,
        "alias": event.alias,
        "action": event.action.value,
        "from_version": event.from_version,
        "to_version": event.to_version,
        "actor": event.actor,
        "at": _time(event.at),
        "results": [result_to_json(r) for r in event.results],
        "forced": event.forced,
        "note": event.note,
    }


def event_from_json(data: dict[str, Any]) -> AliasEvent:
    return AliasEvent(
        id=int(data["id"]),
        name=data["name"],
        alias=data["alias"],
        action=AliasAction(data["action"]),
        from_version=data.get("from_version"),
        to_version=data.get("to_version"),
        actor=data.get("actor", ""),
        at=datetime.fromisoformat(data["at"]),
        results=tuple(result_from_json(r) for r in data.get("results", [])),
        forced=bool(data.get("forced", False)),
        note=data.get("note", ""),
    )


def gate_to_json(gate: Gate) -> dict[str, Any]:
    return {
        "name": gate.name,
        "alias": gate.alias,
        "checks": [check_to_json(c) for c in gate.checks],
        "updated_at": _time(gate.updated_at),
        "updated_by": gate.updated_by,
    }


def gate_from_json(data: dict[str, Any]) -> Gate:
    return Gate(
        name=data["name"],
        alias=data["alias"],
        checks=parse_checks(data.get("checks", [])),
        updated_at=_parse_time(data.get("updated_at")),
        updated_by=data.get("updated_by", ""),
    )
