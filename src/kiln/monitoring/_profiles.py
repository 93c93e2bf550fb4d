"""Stored reference profiles: computed once from a dataset version, a run's input or rows.

::

    create_profile(context, project, name, source) ──► StoredProfile (name@version)
      source: "fraud@3"            a dataset version        (data._service.load)
              "run:<id>"           the dataset version a tracking run was trained on
              "models:/fraud/2"    the same, through the model version's run (lineage)
              a DataFrame / Table  rows
      build_profile ──► JSON blob in the artifact store ──► reference_profiles row
    load_profile(context, project, "fraud-ref@2") ──► (StoredProfile, ReferenceProfile)

A name's versions count up from 1 like a dataset's; a monitor pins one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiln.auth import project_id
from kiln.db.tables import ReferenceProfileRow
from kiln.errors import InvalidInput, NotFound
from kiln.monitoring._names import check_name
from kiln.monitoring._reference import ReferenceProfile

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = [
    "StoredProfile",
    "check_profile_name",
    "create_profile",
    "get_stored_profile",
    "list_profiles",
    "load_profile",
    "parse_profile_ref",
]


@dataclass(frozen=True, slots=True)
class StoredProfile:
    """A stored reference profile's record (its sketches are in the blob ``digest``)."""

    name: str
    version: int
    digest: str
    rows: int
    columns: tuple[str, ...]
    source: dict[str, Any]
    created_at: datetime
    created_by: str

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def check_profile_name(name: Any, *, field: str = "name") -> str:
    return check_name(name, what="profile", field=field)


def parse_profile_ref(ref: Any, *, field: str = "profile") -> tuple[str, int | None]:
    """``name``, ``name@latest`` (None: the newest) or ``name@3``."""
    if not isinstance(ref, str):
        raise InvalidInput(f"a profile is named name@version, got {ref!r}", field=field)
    name, _, version = ref.partition("@")
    check_profile_name(name, field=field)
    if version in ("", "latest"):
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise InvalidInput(
            f"profile version {version!r} in {ref!r} is not a number from 1", field=field
        )
    return name, int(version)


def _stored(row: ReferenceProfileRow) -> StoredProfile:
    return StoredProfile(
        name=row.name,
        version=row.version,
        digest=row.digest,
        rows=row.rows,
        columns=tuple(json.loads(row.columns)),
        source=json.loads(row.source or "{}"),
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _insert(
    session: Session, project: str, name: str, digest: str, profile: ReferenceProfile, user: str
) -> StoredProfile:
    owner = project_id(session, project)
    newest = session.scalar(
        select(func.max(ReferenceProfileRow.version)).where(
            ReferenceProfileRow.project_id == owner, ReferenceProfileRow.name == name
        )
    )
    row = ReferenceProfileRow(
        project_id=owner,
        name=name,
        version=(newest or 0) + 1,
        digest=digest,
        rows=profile.rows,
        columns=json.dumps(list(profile.columns)),
        source=json.dumps(dict(profile.source), sort_keys=True, default=str),
        created_by=user,
    )
    session.add(row)
    session.flush()
    return _stored(row)


def get_stored_profile(session: Session, project: str, ref: str) -> StoredProfile:
    """The record of ``ref`` (``name``, ``name@latest`` or ``name@3``)."""
    name, version = parse_profile_ref(ref)
    owner = project_id(session, project)
    query = select(ReferenceProfileRow).where(
        ReferenceProfileRow.project_id == owner, ReferenceProfileRow.name == name
    )
    if version is not None:
        query = query.where(ReferenceProfileRow.version == version)
    row = session.scalars(query.order_by(ReferenceProfileRow.version.desc()).limit(1)).first()
    if row is None:
        raise NotFound(
            f"no reference profile {ref!r} in project {project!r}; create one with "
            f"`kiln monitor profile {name} --from DATASET@VERSION`"
        )
    return _stored(row)


def list_profiles(
    session: Session, project: str, *, name: str | None = None
) -> list[StoredProfile]:
    """The project's profiles (every version), newest first."""
    query = select(ReferenceProfileRow).where(
        ReferenceProfileRow.project_id == project_id(session, project)
    )
    if name is not None:
        query = query.where(ReferenceProfileRow.name == check_profile_name(name))
    query = query.order_by(ReferenceProfileRow.created_at.desc(), ReferenceProfileRow.id.desc())
    return [_stored(row) for row in session.scalars(query.limit(1000))]


def load_profile(
    context: Context, project: str, ref: str
) -> tuple[StoredProfile, ReferenceProfile]:
    """A stored profile's record and its sketches (one blob read)."""
    stored = context.db.read(get_stored_profile, project, ref)
    profile = ReferenceProfile.from_dict(orjson.loads(context.artifacts.read_bytes(stored.digest)))
    return stored, profile


def _upstream_dataset(session: Session, project: str, ref: str) -> str:
    """The one dataset version nearest upstream of a run or model version, as ``name@n``."""
    from kiln.lineage import labels, resolve, walk

    owner = project_id(session, project)
    root = resolve(session, owner, ref)
    found = walk(session, owner, root, direction="upstream")
    versions = [node for node in found.depth if node.kind == "dataset_version"]
    if not versions:
        raise NotFound(
            f"no dataset version is recorded upstream of {ref}: profile the training data "
            "itself (a dataset version or rows)"
        )
    nearest = max(found.depth[node] for node in versions)
    closest = [node for node in versions if found.depth[node] == nearest]
    named = labels(session, owner, closest)
    if len(closest) > 1:
        listed = ", ".join(sorted(named.get(node, node.id) for node in closest))
        raise InvalidInput(
            f"{ref} was made from several dataset versions ({listed}); profile one of them",
            field="source",
        )
    return named[closest[0]]


def _source_table(context: Context, project: str, source: Any) -> tuple[Any, dict[str, Any]]:
    from kiln.data import _service

    if isinstance(source, str):
        if source.startswith(("run:", "models:/", "model_version:")):
            dataset = context.db.read(_upstream_dataset, project, source)
            table = _service.load(context.db, context.artifacts, project, dataset)
            return table, {"kind": "run", "name": source, "dataset_version": dataset}
        version = context.db.read(_resolve_version, project, source)
        table = _service.load(context.db, context.artifacts, project, version)
        return table, {"kind": "dataset_version", "name": f"{version.name}@{version.version}"}
    return source, {"kind": "rows"}


def _resolve_version(session: Session, project: str, ref: str) -> Any:
    from kiln.data._datasets import get_version

    return get_version(session, project, ref)


def create_profile(
    context: Context,
    project: str,
    name: str,
    source: Any,
    *,
    columns: list[str] | None = None,
    user: str = "",
) -> tuple[StoredProfile, ReferenceProfile]:
    """Profile ``source`` and store it as the next version of ``name``."""
    from kiln.monitoring._profiling import build_profile

    check_profile_name(name)
    table, described = _source_table(context, project, source)
    profile = build_profile(table, columns=columns, source=described)
    blob = context.artifacts.put_bytes(orjson.dumps(profile.to_dict()))
    stored = context.db.run(_insert, project, name, blob.digest, profile, user)
    return stored, profile
