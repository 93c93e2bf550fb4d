"""One definition of the catalog in full: spec, versions, schema, statistics, consumers.

What ``kiln features describe``, ``GET /api/v1/features/{kind}/{name}`` and
the feature pages show. Built on the catalog's entries (``_catalog.py``) plus
two queries: the definition's history and its materializations.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.auth import project_id as _project_id
from kiln.db.tables import (
    FeatureDefinitionRow,
    FeatureMaterializationRow,
)
from kiln.errors import NotFound
from kiln.features._catalog import (
    LABELS,
    MATERIALIZATIONS_SHOWN,
    CatalogEntry,
    Usage,
    catalog_entries,
    kind_of,
    model_usages,
    view_freshness,
)
from kiln.features._registry import ENTITY, ON_DEMAND, SERVICE, VIEW, _newest

__all__ = ["describe"]


def _pick(
    newest: Mapping[tuple[str, str], FeatureDefinitionRow],
    project: str,
    name: str,
    kind: str | None,
) -> FeatureDefinitionRow:
    """The current definition called ``name``: a view, an on-demand view, a service, an entity."""
    kinds = [kind_of(kind)] if kind else [VIEW, ON_DEMAND, SERVICE, ENTITY]
    for candidate in kinds:
        row = newest.get((candidate, name))
        if row is not None and not row.removed:
            return row
    what = LABELS[kinds[0]] if kind else "entity, feature view, on-demand view or service"
    for candidate in kinds:
        row = newest.get((candidate, name))
        if row is not None:
            raise NotFound(
                f"{LABELS[candidate]} {name!r} was removed from project {project!r} "
                f"(version {row.version}); apply a definition of it again to bring it back"
            )
    known = sorted({n for (k, n), row in newest.items() if k in kinds and not row.removed})
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = (
        f"; did you mean {', '.join(close)}?"
        if close
        else "; `kiln features list` shows what there is"
    )
    raise NotFound(f"no {what} {name!r} in project {project!r}{hint}")


def _versions(session: Session, row: FeatureDefinitionRow) -> list[dict[str, Any]]:
    """Every version, newest first, each with the parts of the spec it changed."""
    rows = session.scalars(
        select(FeatureDefinitionRow)
        .where(
            FeatureDefinitionRow.project_id == row.project_id,
            FeatureDefinitionRow.kind == row.kind,
            FeatureDefinitionRow.name == row.name,
        )
        .order_by(FeatureDefinitionRow.version)
    )
    found: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for item in rows:
        spec = json.loads(item.spec)
        if previous is None or item.removed:
            changed: list[str] = []
        else:
            changed = sorted(k for k in {*spec, *previous} if spec.get(k) != previous.get(k))
        found.append(
            {
                "version": item.version,
                "removed": item.removed,
                "created_at": item.created_at,
                "created_by": item.created_by,
                "changed": changed,
                "spec": spec,
            }
        )
        previous = None if item.removed else spec
    found.reverse()
    return found


def _materializations(session: Session, project_id: int, view: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(FeatureMaterializationRow)
        .where(
            FeatureMaterializationRow.project_id == project_id,
            FeatureMaterializationRow.view == view,
        )
        .order_by(FeatureMaterializationRow.id.desc())
        .limit(MATERIALIZATIONS_SHOWN)
    )
    return [
        {
            "id": row.id,
            "view_version": row.view_version,
            "store": row.store,
            "start": row.start,
            "end": row.end,
            "status": row.status,
            "rows_read": row.rows_read,
            "keys_written": row.keys_written,
            "newest_event": row.newest_event,
            "statistics": json.loads(row.statistics or "{}"),
            "error": row.error,
            "started_at": row.started_at,
            "finished_at": row.finished_at,
            "seconds": (
                (row.finished_at - row.started_at).total_seconds() if row.finished_at else None
            ),
            "created_by": row.created_by,
        }
        for row in rows
    ]


def _consumers(
    usages: list[Usage], entry: CatalogEntry, versions: Mapping[str, int]
) -> list[dict[str, Any]]:
    """Who uses ``entry``, with the view versions they were trained on (``current``: still)."""
    found = []
    for usage in usages:
        if usage.label not in entry.consumers:
            continue
        candidates = [entry.name] if entry.kind in (VIEW, ON_DEMAND) else list(entry.related)
        views = {v: usage.views.get(v) for v in candidates if usage.uses_view(v)}
        trained = {
            view: {
                "version": version,
                "current": None if not isinstance(version, int) else version == versions.get(view),
            }
            for view, version in views.items()
        }
        found.append(
            {
                "model": usage.model,
                "version": usage.version,
                "uri": f"models:/{usage.model}/{usage.version}",
                "feature_service": usage.service,
                "views": trained,
            }
        )
    return found


def _expired(newest_event: datetime | None, ttl_seconds: Any, now: datetime) -> bool | None:
    """Whether every value online is older than the ttl (None: no ttl, or never materialized)."""
    if newest_event is None or ttl_seconds is None:
        return None
    return now - newest_event > timedelta(seconds=float(ttl_seconds))


def describe(
    session: Session,
    project: str,
    name: str,
    kind: str | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Everything about one current definition (a view, else a service, else an entity).

    Its catalog entry, its spec, every version (newest first, with the spec
    keys each changed), its consumers with the view versions they trained
    on; for a view also its schema, freshness (``expired``: even the newest
    value is older than the ttl at ``now``), the statistics of its latest
    completed materialization and its materializations, newest first; for a
    service the freshness of each view it reads. Datetimes stay datetimes.
    """
    now = now or datetime.now(UTC)
    project_id = _project_id(session, project)
    newest = _newest(session, project_id)
    row = _pick(newest, project, name, kind)
    freshness = view_freshness(session, project_id)
    usages = model_usages(session, project_id)
    entries = {(e.kind, e.name): e for e in catalog_entries(newest, freshness, usages)}
    entry = entries[(row.kind, row.name)]
    spec = json.loads(row.spec)
    versions = {
        n: r.version for (k, n), r in newest.items() if k in (VIEW, ON_DEMAND) and not r.removed
    }
    found: dict[str, Any] = {
        **entry.to_dict(),
        "created_by": row.created_by,
        "spec": spec,
        "versions": _versions(session, row),
        "consumers": _consumers(usages, entry, versions),
        "consumer_labels": list(entry.consumers),
    }
    if row.kind == VIEW:
        materializations = _materializations(session, project_id, row.name)
        # Statistics describe the values a run wrote: those of the latest run that wrote some.
        completed = [m for m in materializations if m["status"] == "COMPLETED"]
        completed.sort(key=lambda m: m["keys_written"] == 0)  # stable: newest first in each
        found["schema"] = {
            "entities": list(spec.get("entities", ())),
            "join_keys": entry.join_keys,
            "event_timestamp": spec.get("event_timestamp"),
            "created_timestamp": spec.get("created_timestamp"),
            "ttl_seconds": spec.get("ttl_seconds"),
            "source": spec.get("source", {}),
            "features": [asdict(item) for item in entry.features],
        }
        found["freshness"] = {
            "newest_event": entry.newest_event,
            "materialized_at": entry.materialized_at,
            "ttl_seconds": spec.get("ttl_seconds"),
            "expired": _expired(entry.newest_event, spec.get("ttl_seconds"), now),
        }
        statistics = completed[0]["statistics"] if completed else {}
        order = [item.name for item in entry.features]  # the declaration's order, then the rest
        found["statistics"] = {
            name: statistics[name]
            for name in sorted(
                statistics, key=lambda n: (order.index(n) if n in order else len(order), n)
            )
        }
        found["statistics_version"] = completed[0]["view_version"] if completed else None
        found["materializations"] = materializations
        found["services"] = [
            e.name for e in entries.values() if e.kind == SERVICE and row.name in e.related
        ]
    elif row.kind == ON_DEMAND:
        found["schema"] = {
            "join_keys": entry.join_keys,
            "views": list(entry.related),
            "request": [source for source in spec.get("sources", ()) if "request" in source],
            "transform": {k: v for k, v in spec.get("transform", {}).items() if k != "code"},
            "code": spec.get("transform", {}).get("code", ""),
            "features": [asdict(item) for item in entry.features],
        }
        found["freshness"] = {
            "newest_event": entry.newest_event,
            "materialized_at": entry.materialized_at,
        }
        found["services"] = [
            e.name for e in entries.values() if e.kind == SERVICE and row.name in e.related
        ]
    elif row.kind == SERVICE:
        found["views"] = [
            _service_view(entries.get((VIEW, view)) or entries.get((ON_DEMAND, view)), view, entry)
            for view in entry.related
        ]
        found["freshness"] = {
            "newest_event": entry.newest_event,
            "materialized_at": entry.materialized_at,
        }
    else:
        found["views"] = list(entry.related)
    return found


def _service_view(view: CatalogEntry | None, name: str, service: CatalogEntry) -> dict[str, Any]:
    features = [item.name for item in service.features if item.view == name]
    if view is None:  # the service names a view that is gone (apply refuses this; old rows may not)
        return {
            "name": name,
            "kind": None,
            "version": None,
            "features": features,
            "newest_event": None,
        }
    return {
        "name": name,
        "kind": view.kind,
        "version": view.version,
        "features": features,
        "newest_event": view.newest_event,
        "materialized_at": view.materialized_at,
    }
