"""Names people type for lineage nodes, and the labels nodes are shown with.

``kind:id`` always works. Friendlier forms: ``dataset:transactions@3``
(``@latest``, ``@<id prefix>``), ``model:fraud/2`` or ``models:/fraud/2`` and
``models:/fraud@champion``. Resolution reads the other domains' tables
directly (this package sits below them) and only to find ids and labels.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiln.db.tables import (
    DatasetVersionRow,
    ModelAliasRow,
    ModelVersionRow,
    PipelineRunRow,
    RegisteredModelRow,
    RunRow,
    VersionedDatasetRow,
)
from kiln.errors import InvalidInput, NotFound
from kiln.lineage._nodes import KINDS, Node

__all__ = ["labels", "resolve"]

_HEX_PREFIX = re.compile(r"[0-9a-f]{7,64}")


def resolve(session: Session, project_id: int, ref: str) -> Node:
    """The node ``ref`` names; ``NotFound`` when what it names does not exist."""
    if not isinstance(ref, str) or ":" not in ref:
        raise InvalidInput(
            f"expected a lineage node such as dataset:NAME@VERSION, models:/NAME/VERSION, "
            f"run:ID, pipeline_run:ID or kind:id, got {ref!r}",
            field="node",
        )
    if ref.startswith("models:/"):
        return _model(session, project_id, ref.removeprefix("models:/"))
    kind, _, rest = ref.partition(":")
    if kind == "dataset":
        return _dataset(session, project_id, rest)
    if kind == "model":
        return _model(session, project_id, rest)
    if kind not in KINDS:
        raise InvalidInput(
            f"unknown node kind {kind!r} in {ref!r}; use dataset, model or one of "
            f"{', '.join(KINDS)}",
            field="node",
        )
    node = Node(kind, rest)
    if kind == "dataset_version":
        return _dataset_by_id(session, project_id, rest)
    if kind == "model_version":
        return _model(session, project_id, rest)
    if kind == "run" and session.get(RunRow, rest) is None:
        raise NotFound(f"no tracking run {rest!r}")
    if kind in ("pipeline_run", "step_run"):
        run = session.get(PipelineRunRow, rest.split("/", 1)[0])
        if run is None or run.project_id != project_id:
            raise NotFound(f"no pipeline run {rest.split('/', 1)[0]!r} in this project")
    return node


def _dataset(session: Session, project_id: int, text: str) -> Node:
    name, _, selector = text.partition("@")
    dataset = session.scalar(
        select(VersionedDatasetRow).where(
            VersionedDatasetRow.project_id == project_id, VersionedDatasetRow.name == name
        )
    )
    if dataset is None:
        raise NotFound(f"no dataset {name!r} in this project")
    query = select(DatasetVersionRow).where(DatasetVersionRow.dataset_id == dataset.id)
    if selector in ("", "latest"):
        query = query.order_by(DatasetVersionRow.version.desc()).limit(1)
    elif selector.isdigit():
        query = query.where(DatasetVersionRow.version == int(selector))
    elif _HEX_PREFIX.fullmatch(selector):
        query = query.where(DatasetVersionRow.content_hash.startswith(selector))
    else:
        raise InvalidInput(
            f"dataset version {selector!r} is not a number, 'latest' or an id prefix",
            field="node",
        )
    found = list(session.scalars(query.limit(2)))
    if len(found) != 1:
        what = "is ambiguous" if found else "does not exist"
        raise NotFound(f"dataset version {text!r} {what}")
    return Node.dataset_version(found[0].content_hash)


def _dataset_by_id(session: Session, project_id: int, version_id: str) -> Node:
    found = session.scalar(
        select(DatasetVersionRow.content_hash)
        .join(VersionedDatasetRow, VersionedDatasetRow.id == DatasetVersionRow.dataset_id)
        .where(
            VersionedDatasetRow.project_id == project_id,
            DatasetVersionRow.content_hash == version_id,
        )
    )
    if found is None:
        raise NotFound(f"no dataset version with id {version_id!r} in this project")
    return Node.dataset_version(found)


def _model(session: Session, project_id: int, text: str) -> Node:
    if "@" in text:
        name, _, alias = text.partition("@")
        version = session.scalar(
            select(ModelVersionRow.version)
            .join(ModelAliasRow, ModelAliasRow.version_id == ModelVersionRow.id)
            .join(RegisteredModelRow, RegisteredModelRow.id == ModelAliasRow.model_id)
            .where(
                RegisteredModelRow.project_id == project_id,
                RegisteredModelRow.name == name,
                ModelAliasRow.alias == alias,
            )
        )
        if version is None:
            raise NotFound(f"model {name!r} has no alias {alias!r}")
        return Node.model_version(name, version)
    name, _, number = text.rpartition("/")
    if not name or not number.isdigit():
        raise InvalidInput(
            f"expected a model version as NAME/VERSION or NAME@ALIAS, got {text!r}", field="node"
        )
    exists = session.scalar(
        select(func.count())
        .select_from(ModelVersionRow)
        .join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
        .where(
            RegisteredModelRow.project_id == project_id,
            RegisteredModelRow.name == name,
            ModelVersionRow.version == int(number),
        )
    )
    if not exists:
        raise NotFound(f"model {name!r} has no version {number}")
    return Node.model_version(name, int(number))


def labels(session: Session, project_id: int, nodes: Iterable[Node]) -> dict[Node, str]:
    """A short human label per node (``transactions@3``, ``fraud v2``, ``train (run 1a2b3c4d)``)."""
    nodes = list(nodes)
    by_kind: dict[str, list[Node]] = {}
    for node in nodes:
        by_kind.setdefault(node.kind, []).append(node)
    found: dict[Node, str] = {}
    versions = [node.id for node in by_kind.get("dataset_version", [])]
    for start in range(0, len(versions), 200):
        rows = session.execute(
            select(
                DatasetVersionRow.content_hash, VersionedDatasetRow.name, DatasetVersionRow.version
            )
            .join(VersionedDatasetRow, VersionedDatasetRow.id == DatasetVersionRow.dataset_id)
            .where(
                VersionedDatasetRow.project_id == project_id,
                DatasetVersionRow.content_hash.in_(versions[start : start + 200]),
            )
        )
        for content_hash, name, number in rows:
            found[Node.dataset_version(content_hash)] = f"{name}@{number}"
    runs = [node.id for node in by_kind.get("run", [])]
    for start in range(0, len(runs), 200):
        for run_id, name in session.execute(
            select(RunRow.id, RunRow.name).where(RunRow.id.in_(runs[start : start + 200]))
        ):
            found[Node.run(run_id)] = f"run {name}"
    pipeline_ids = {
        node.id.split("/", 1)[0]
        for kind in ("pipeline_run", "step_run")
        for node in by_kind.get(kind, [])
    }
    pipelines: dict[str, str] = {}
    ids = sorted(pipeline_ids)
    for start in range(0, len(ids), 200):
        for run_id, pipeline in session.execute(
            select(PipelineRunRow.id, PipelineRunRow.pipeline).where(
                PipelineRunRow.id.in_(ids[start : start + 200])
            )
        ):
            pipelines[run_id] = pipeline
    for node in nodes:
        if node in found:
            continue
        if node.kind == "model_version":
            model, _, model_version = node.id.rpartition("/")
            found[node] = f"{model} v{model_version}"
        elif node.kind == "pipeline_run":
            found[node] = f"{pipelines.get(node.id, 'pipeline')} run {node.id[:8]}"
        elif node.kind == "step_run":
            run_id, _, invocation = node.id.partition("/")
            found[node] = f"{invocation} ({pipelines.get(run_id, 'run')} {run_id[:8]})"
        elif node.kind == "artifact":
            found[node] = f"artifact {node.id[:12]}"
        elif node.kind == "dataset_version":
            found[node] = f"dataset version {node.id[:12]}"
        else:
            found[node] = f"run {node.id[:8]}"
    return found
