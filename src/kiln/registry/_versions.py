"""Model versions: register, read, describe, tag, delete.

A version from ``runs:/<run_id>/<path>`` is checked against the run's
artifacts: the run must exist in the project and hold ``<path>/kiln-model.yaml``,
whose SHA-256 (the artifact's digest) the version records. A version from a
folder records the digest the caller computed. Either way the digest pins the
manifest, and the manifest lists the SHA-256 of every other file. A version from a run
inherits the run's ``INHERITED_RUN_TAGS``: the features it was trained on.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from kiln.db import utcnow
from kiln.db.tables import (
    ModelAliasRow,
    ModelVersionRow,
    ModelVersionTagRow,
    RegisteredModelRow,
    RunArtifactRow,
    RunTagRow,
)
from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.lineage import Edge, Node, Relation, add_edges, flag_superseded, report_made
from kiln.models import MANIFEST_NAME, parse_runs_uri
from kiln.registry._entities import AliasAction, ModelVersion, ModelVersionStatus
from kiln.registry._models import ensure_model_row
from kiln.registry._names import check_sha256, check_source, check_tag, parse_version
from kiln.registry._rows import load_versions, model_row, version_row
from kiln.tracking._names import INHERITED_RUN_TAGS
from kiln.tracking._runs import run_row

#: The run tag ``kiln.models.log_model`` sets to the model's flavor.
FLAVOR_TAG = "kiln.model.{path}"


def _manifest_of_run(
    session: Session, project: str, source: str, run_id: str | None
) -> tuple[str, str | None, str]:
    """``(run_id, manifest digest or None, flavor)`` of a ``runs:/`` source."""
    source_run, path = parse_runs_uri(source)
    if run_id is not None and run_id != source_run:
        raise InvalidInput(
            f"run_id {run_id!r} differs from the run of source {source!r}", field="run_id"
        )
    run_row(session, project, source_run)
    artifact = session.get(RunArtifactRow, (source_run, f"{path}/{MANIFEST_NAME}"))
    flavor = session.scalar(
        select(RunTagRow.value).where(
            RunTagRow.run_id == source_run, RunTagRow.key == FLAVOR_TAG.format(path=path)
        )
    )
    return source_run, artifact.digest if artifact is not None else None, flavor or ""


def create_model_version(
    session: Session,
    project: str,
    name: str,
    source: str,
    *,
    run_id: str | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    user: str = "",
    create_model: bool = False,
    manifest_sha256: str | None = None,
    flavor: str | None = None,
    require_manifest: bool = True,
) -> ModelVersion:
    """Register ``source`` as the next version of model ``name``.

    ``create_model=True`` creates the registered model when it is missing.
    For ``runs:/`` sources the manifest's digest comes from the run's
    artifacts (``NotFound`` when the run has no Kiln model there); other
    sources (a folder) need ``manifest_sha256``. ``require_manifest=False``
    accepts a source that is not in Kiln's format (an MLflow model), recorded
    without a digest; such a version cannot be loaded by ``kiln.registry.load_model``.
    """
    source = check_source(source)
    model = (
        ensure_model_row(session, project, name)
        if create_model
        else model_row(session, project, name)
    )
    if manifest_sha256 is not None:
        manifest_sha256 = check_sha256(manifest_sha256)
    if source.startswith("runs:/"):
        run_id, digest, run_flavor = _manifest_of_run(session, project, source, run_id)
        if digest is None and require_manifest:
            _, path = parse_runs_uri(source)
            raise NotFound(
                f"run {run_id} has no Kiln model at {path!r} (no {path}/{MANIFEST_NAME}); "
                f"log one with kiln.models.log_model(model, {path!r})"
            )
        if digest is not None and manifest_sha256 is not None and digest != manifest_sha256:
            raise Conflict(
                f"the manifest of {source} has SHA-256 {digest}, not {manifest_sha256}: "
                "the run's files changed since they were read",
                field="manifest_sha256",
            )
        manifest_sha256 = digest or ""
        flavor = flavor or run_flavor
    else:
        if run_id is not None:
            run_row(session, project, run_id)
        if manifest_sha256 is None and require_manifest:
            raise InvalidInput(
                f"a version from {source!r} needs the SHA-256 of its {MANIFEST_NAME} "
                "(kiln.registry.register_model computes it from the folder)",
                field="manifest_sha256",
            )
    # One UPDATE … RETURNING both locks the model's row and takes the next number,
    # so concurrent registrations of one model queue here and never share a number.
    number: int = (
        session.connection()
        .execute(
            update(RegisteredModelRow)
            .where(RegisteredModelRow.id == model.id)
            .values(last_version=RegisteredModelRow.last_version + 1, updated_at=utcnow())
            .returning(RegisteredModelRow.last_version)
        )
        .scalar_one()
    )
    row = ModelVersionRow(
        model_id=model.id,
        version=number,
        source=source,
        run_id=run_id,
        manifest_sha256=manifest_sha256 or "",
        flavor=(flavor or "")[:64],
        description=str(description),
        status=ModelVersionStatus.READY.value,
        created_by=user,
    )
    session.add(row)
    session.flush()
    inherited = _inherited_tags(session, run_id) if run_id is not None else {}
    for key, value in {**inherited, **(tags or {})}.items():
        _set_tag(session, row.id, key, value)
    session.flush()
    _record_lineage(session, model, number, run_id)
    return load_versions(session, [row])[0]


def _inherited_tags(session: Session, run_id: str) -> dict[str, str]:
    """The run's tags a version carries too: which features it was trained on."""
    rows = session.execute(
        select(RunTagRow.key, RunTagRow.value).where(
            RunTagRow.run_id == run_id, RunTagRow.key.in_(INHERITED_RUN_TAGS)
        )
    )
    return {row.key: row.value for row in rows}


def _record_lineage(
    session: Session, model: RegisteredModelRow, number: int, run_id: str | None
) -> None:
    """The new version comes from its run; what the previous version fed is now stale."""
    new = Node.model_version(model.name, number)
    if run_id is not None:
        add_edges(session, model.project_id, [Edge(Node.run(run_id), new, Relation.REGISTERED)])
    if number > 1:
        flag_superseded(
            session,
            model.project_id,
            Node.model_version(model.name, number - 1),
            new,
            f"model {model.name!r} was retrained: version {number} replaces {number - 1}",
        )
    report_made(new)


def get_model_version(
    session: Session, project: str, name: str, version: int | str
) -> ModelVersion:
    row = version_row(session, model_row(session, project, name), version)
    return load_versions(session, [row])[0]


def latest_model_version(session: Session, project: str, name: str) -> ModelVersion:
    """The version with the highest number (``NotFound`` when the model has none)."""
    model = model_row(session, project, name)
    row = session.scalar(
        select(ModelVersionRow)
        .where(ModelVersionRow.model_id == model.id)
        .order_by(ModelVersionRow.version.desc())
        .limit(1)
    )
    if row is None:
        raise NotFound(f"registered model {name!r} has no version yet")
    return load_versions(session, [row])[0]


def list_model_versions(session: Session, project: str, name: str) -> list[ModelVersion]:
    """Every version of a model, newest first."""
    model = model_row(session, project, name)
    rows = session.scalars(
        select(ModelVersionRow)
        .where(ModelVersionRow.model_id == model.id)
        .order_by(ModelVersionRow.version.desc())
    ).all()
    return load_versions(session, rows)


def update_model_version(
    session: Session, project: str, name: str, version: int | str, *, description: str
) -> ModelVersion:
    row = version_row(session, model_row(session, project, name), version)
    row.description = str(description)
    row.updated_at = utcnow()
    session.flush()
    return load_versions(session, [row])[0]


def delete_model_version(
    session: Session, project: str, name: str, version: int | str, *, actor: str = ""
) -> None:
    """Delete a version; aliases pointing at it are removed, each as a ``delete`` event."""
    from kiln.registry._aliases import record_event

    model = model_row(session, project, name, lock=True)
    row = version_row(session, model, version)
    for alias in session.scalars(
        select(ModelAliasRow)
        .where(ModelAliasRow.version_id == row.id)
        .order_by(ModelAliasRow.alias)
    ):
        record_event(
            session,
            model,
            alias.alias,
            AliasAction.DELETE,
            row.version,
            None,
            actor=actor,
            note=f"version {row.version} was deleted",
        )
        session.delete(alias)
    session.delete(row)
    model.updated_at = utcnow()
    session.flush()


def _set_tag(session: Session, version_id: int, key: str, value: str) -> None:
    key, text = check_tag(key, value)
    tag = session.get(ModelVersionTagRow, (version_id, key))
    if tag is None:
        session.add(ModelVersionTagRow(version_id=version_id, key=key, value=text))
    else:
        tag.value = text


def set_model_version_tag(
    session: Session, project: str, name: str, version: int | str, key: str, value: str
) -> None:
    row = version_row(session, model_row(session, project, name), version)
    _set_tag(session, row.id, key, value)
    row.updated_at = utcnow()
    session.flush()


def delete_model_version_tag(
    session: Session, project: str, name: str, version: int | str, key: str
) -> None:
    row = version_row(session, model_row(session, project, name), version)
    result = session.execute(
        delete(ModelVersionTagRow).where(
            ModelVersionTagRow.version_id == row.id, ModelVersionTagRow.key == key
        )
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"version {parse_version(version)} of {name!r} has no tag {key!r}")
