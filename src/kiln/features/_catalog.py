"""The feature catalog: what features exist, who owns them, how fresh they are, who uses them.

People look for a feature before they compute it again, and before they
change a view they need to know which models were trained on it. So every
current entity, feature view and service is listed with its owner, tags,
typed features and version, its freshness (the newest event and the finish
time of its latest COMPLETED materialization) and its consumers: the
registered model versions whose ``kiln.feature_views`` tag names the view,
or whose ``kiln.feature_service`` tag names the service (tags the training
code records; this module only reads them).

``catalog`` answers in four queries whatever the number of definitions;
``_describe.describe`` tells everything about one of them.
Services on a ``Session``, called through ``Database.read``.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiln.auth import project_id as _project_id
from kiln.db.tables import (
    FeatureDefinitionRow,
    FeatureMaterializationRow,
    ModelVersionRow,
    ModelVersionTagRow,
    RegisteredModelRow,
)
from kiln.errors import InvalidInput
from kiln.features._registry import ENTITY, ON_DEMAND, SERVICE, VIEW, _newest
from kiln.tracking._names import FEATURE_SERVICE_TAG, FEATURE_VIEWS_TAG, FEATURES_TAG

__all__ = [
    "FEATURES_TAG",
    "SERVICE_TAG",
    "VIEWS_TAG",
    "CatalogEntry",
    "CatalogFeature",
    "catalog",
    "kind_of",
]

#: The model-version tags that say what a version was trained from (``_training.py``).
SERVICE_TAG = FEATURE_SERVICE_TAG
VIEWS_TAG = FEATURE_VIEWS_TAG

_ORDER = (ENTITY, VIEW, ON_DEMAND, SERVICE)
#: Spellings of each kind a caller may use (the REST paths use the plural ones).
_KINDS = {
    "entity": ENTITY,
    "entities": ENTITY,
    "view": VIEW,
    "views": VIEW,
    "feature_view": VIEW,
    "feature_views": VIEW,
    "on_demand": ON_DEMAND,
    "on-demand": ON_DEMAND,
    "on_demand_view": ON_DEMAND,
    "on_demand_views": ON_DEMAND,
    "on-demand-views": ON_DEMAND,
    "service": SERVICE,
    "services": SERVICE,
    "feature_service": SERVICE,
    "feature_services": SERVICE,
}
LABELS = {
    ENTITY: "entity",
    VIEW: "feature view",
    ON_DEMAND: "on-demand view",
    SERVICE: "feature service",
}
#: Materializations ``describe`` lists, newest first.
MATERIALIZATIONS_SHOWN = 50


def kind_of(kind: str) -> str:
    """The stored kind (``entity``, ``feature_view``, ``on_demand_view``, ``feature_service``)."""
    found = _KINDS.get(str(kind).strip().lower())
    if found is None:
        raise InvalidInput(
            f"unknown definition kind {kind!r}; use entity, view, on-demand or service",
            field="kind",
        )
    return found


@dataclass(frozen=True, slots=True)
class CatalogFeature:
    """A typed feature; ``view`` says where a service's feature comes from."""

    name: str
    dtype: str
    description: str = ""
    view: str = ""

    @property
    def reference(self) -> str:
        """``view:feature`` (what ``get_online_features`` takes)."""
        return f"{self.view}:{self.name}"


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One current definition as the catalog lists it.

    ``related`` is, for a view, its entities; for an entity, the views keyed
    by it; for a service, the views it reads. A service is as fresh as its
    stalest view (no freshness while one was never materialized); an
    entity's consumers are those of its views.
    """

    kind: str
    name: str
    version: int
    owner: str
    description: str
    tags: dict[str, str]
    updated_at: datetime
    features: tuple[CatalogFeature, ...] = ()
    join_keys: dict[str, str] = field(default_factory=dict)
    related: tuple[str, ...] = ()
    newest_event: datetime | None = None
    materialized_at: datetime | None = None
    consumers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["features"] = [
            {k: v for k, v in item.items() if k != "view" or v} for item in data["features"]
        ]
        for name in ("related", "consumers"):
            data[name] = list(data[name])
        return data

    def searchable(self) -> str:
        """Every word a plain search term may match, lower-cased."""
        parts = [self.kind, self.name, self.description, self.owner, *self.related]
        parts += [f"{k}={v}" for k, v in self.tags.items()]
        parts += [f"{k} {v}" for k, v in self.join_keys.items()]
        for item in self.features:
            parts += [item.name, item.dtype, item.description]
            if item.view:
                parts.append(item.reference)
            elif self.kind in (VIEW, ON_DEMAND):
                parts.append(f"{self.name}:{item.name}")
        parts += self.consumers
        return "\n".join(parts).lower()


@dataclass(frozen=True, slots=True)
class Usage:
    """What one model version says it was trained from."""

    model: str
    version: int
    service: str | None
    views: dict[str, Any]
    features: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.model}/{self.version}"

    def uses_view(self, view: str) -> bool:
        return view in self.views or any(ref.partition(":")[0] == view for ref in self.features)


# -- reading --------------------------------------------------------------------------------


def model_usages(session: Session, project_id: int) -> list[Usage]:
    """Every model version of the project that carries one of the features tags (one query)."""
    rows = session.execute(
        select(
            RegisteredModelRow.name,
            ModelVersionRow.version,
            ModelVersionTagRow.key,
            ModelVersionTagRow.value,
        )
        .join(ModelVersionRow, ModelVersionRow.id == ModelVersionTagRow.version_id)
        .join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
        .where(
            RegisteredModelRow.project_id == project_id,
            ModelVersionTagRow.key.in_((SERVICE_TAG, VIEWS_TAG, FEATURES_TAG)),
        )
    )
    tags: dict[tuple[str, int], dict[str, str]] = {}
    for model, version, key, value in rows:
        tags.setdefault((model, version), {})[key] = value
    found = []
    for (model, version), values in sorted(tags.items()):
        views = _json(values.get(VIEWS_TAG), dict)
        features = _json(values.get(FEATURES_TAG), list)
        found.append(
            Usage(
                model=model,
                version=version,
                service=values.get(SERVICE_TAG) or None,
                views={str(k): v for k, v in views.items()},
                features=tuple(str(item) for item in features),
            )
        )
    return found


def _json(text: str | None, kind: type[Any]) -> Any:
    """A tag's JSON value, or an empty one when it is missing or not JSON of that kind.

    The tags are written by training code; one malformed tag must not stop
    the catalog from listing everything else.
    """
    if not text:
        return kind()
    try:
        value = json.loads(text)
    except ValueError:
        return kind()
    return value if isinstance(value, kind) else kind()


def view_freshness(
    session: Session, project_id: int
) -> dict[str, tuple[datetime | None, datetime | None]]:
    """``(newest event, last finished)`` over each view's COMPLETED materializations.

    The newest event of them all, not of the latest one: an incremental run
    that found nothing new writes nothing, and the values online are as
    fresh as before it.
    """
    rows = session.execute(
        select(
            FeatureMaterializationRow.view,
            func.max(FeatureMaterializationRow.newest_event),
            func.max(FeatureMaterializationRow.finished_at),
        )
        .where(
            FeatureMaterializationRow.project_id == project_id,
            FeatureMaterializationRow.status == "COMPLETED",
        )
        .group_by(FeatureMaterializationRow.view)
    )
    return {view: (newest, finished) for view, newest, finished in rows}  # UTC: max keeps the type


def _oldest(values: Iterable[datetime | None]) -> datetime | None:
    found = list(values)
    if not found or any(value is None for value in found):
        return None
    return min(value for value in found if value is not None)


def catalog_entries(
    newest: Mapping[tuple[str, str], FeatureDefinitionRow],
    freshness: Mapping[str, tuple[datetime | None, datetime | None]],
    usages: list[Usage],
) -> list[CatalogEntry]:
    specs = {
        key: json.loads(row.spec) for key, row in newest.items() if not row.removed
    }  # the current definitions, by (kind, name)
    views = {name: spec for (kind, name), spec in specs.items() if kind == VIEW}
    on_demand = {name: spec for (kind, name), spec in specs.items() if kind == ON_DEMAND}
    entries: list[CatalogEntry] = []
    for (kind, name), spec in sorted(specs.items(), key=lambda item: _rank(*item[0])):
        row = newest[(kind, name)]
        common: dict[str, Any] = {
            "kind": kind,
            "name": name,
            "version": row.version,
            "owner": str(spec.get("owner", "")),
            "description": str(spec.get("description", "")),
            "tags": dict(spec.get("tags", {})),
            "updated_at": row.created_at,
        }
        if kind == VIEW:
            newest_event, finished = freshness.get(name, (None, None))
            entries.append(
                CatalogEntry(
                    **common,
                    features=_view_features(spec),
                    join_keys=_view_keys(spec, specs),
                    related=tuple(spec.get("entities", ())),
                    newest_event=newest_event,
                    materialized_at=finished,
                    consumers=tuple(u.label for u in usages if u.uses_view(name)),
                )
            )
        elif kind == ON_DEMAND:
            read = _on_demand_inputs(spec)
            keys: dict[str, str] = {}
            for view in read:
                keys.update(_view_keys(views.get(view, {}), specs))
            entries.append(
                CatalogEntry(
                    **common,
                    features=_view_features(spec),
                    join_keys=keys,
                    related=read,
                    newest_event=_oldest(freshness.get(v, (None, None))[0] for v in read),
                    materialized_at=_oldest(freshness.get(v, (None, None))[1] for v in read),
                    consumers=tuple(u.label for u in usages if u.uses_view(name)),
                )
            )
        elif kind == SERVICE:
            features = _service_features(spec, {**views, **on_demand})
            read = tuple(dict.fromkeys(item.view for item in features))
            # Freshness is the stored views': an on-demand view is computed when asked.
            stored = tuple(
                dict.fromkeys(
                    v
                    for view in read
                    for v in (_on_demand_inputs(on_demand[view]) if view in on_demand else (view,))
                )
            )
            entries.append(
                CatalogEntry(
                    **common,
                    features=features,
                    related=read,
                    newest_event=_oldest(freshness.get(v, (None, None))[0] for v in stored),
                    materialized_at=_oldest(freshness.get(v, (None, None))[1] for v in stored),
                    consumers=tuple(u.label for u in usages if u.service == name),
                )
            )
        elif kind == ENTITY:
            keyed = tuple(v for v, view in views.items() if name in view.get("entities", ()))
            entries.append(
                CatalogEntry(
                    **common,
                    join_keys=dict(spec.get("join_keys", {})),
                    related=keyed,
                    consumers=tuple(u.label for u in usages if any(u.uses_view(v) for v in keyed)),
                )
            )
        else:  # a kind this catalog does not know yet: listed with what every spec has
            entries.append(CatalogEntry(**common, features=_view_features(spec)))
    return entries


def _rank(kind: str, name: str) -> tuple[int, str, str]:
    return (_ORDER.index(kind) if kind in _ORDER else len(_ORDER), kind, name)


def _view_features(spec: Mapping[str, Any]) -> tuple[CatalogFeature, ...]:
    return tuple(
        CatalogFeature(str(f["name"]), str(f.get("dtype", "?")), str(f.get("description", "")))
        for f in spec.get("features", ())
        if isinstance(f, dict) and "name" in f
    )


def _on_demand_inputs(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """The feature views an on-demand view reads (its request sources are not stored)."""
    return tuple(
        str(source["view"])
        for source in spec.get("sources", ())
        if isinstance(source, dict) and "view" in source
    )


def _view_keys(
    spec: Mapping[str, Any], specs: Mapping[tuple[str, str], dict[str, Any]]
) -> dict[str, str]:
    keys: dict[str, str] = {}
    for entity in spec.get("entities", ()):
        keys.update(specs.get((ENTITY, entity), {}).get("join_keys", {}))
    return keys


def _service_features(
    spec: Mapping[str, Any], views: Mapping[str, dict[str, Any]]
) -> tuple[CatalogFeature, ...]:
    found = []
    for reference in spec.get("features", ()):
        view, _, name = str(reference).partition(":")
        declared = {f["name"]: f for f in views.get(view, {}).get("features", ())}
        item = declared.get(name, {})
        found.append(
            CatalogFeature(
                name, str(item.get("dtype", "?")), str(item.get("description", "")), view
            )
        )
    return tuple(found)


# -- search ---------------------------------------------------------------------------------


def _terms(query: str) -> list[str]:
    try:
        return [term for term in shlex.split(query) if term]
    except ValueError:  # an unbalanced quote: read the words as they are
        return query.split()


def _matches(entry: CatalogEntry, term: str, text: str) -> bool:
    qualifier, colon, wanted = term.partition(":")
    qualifier, wanted = qualifier.lower(), wanted.lower()
    if colon and wanted:
        if qualifier == "owner":
            return wanted in entry.owner.lower()
        if qualifier == "tag":
            key, equals, value = wanted.partition("=")
            return any(
                k.lower() == key and (not equals or v.lower() == value)
                for k, v in entry.tags.items()
            )
        if qualifier == "kind":
            return _KINDS.get(wanted) == entry.kind
        if qualifier in ("type", "dtype"):
            # features' types; an entity, which has none, by its join keys'
            types = [item.dtype for item in entry.features]
            if entry.kind == ENTITY:
                types += entry.join_keys.values()
            return wanted in types
        if qualifier == "feature":
            return any(wanted in item.name.lower() for item in entry.features)
        if qualifier in ("model", "consumer"):
            return any(wanted in label.lower() for label in entry.consumers)
    return term.lower() in text  # a plain word, or view:feature


def _search(entries: list[CatalogEntry], query: str | None) -> list[CatalogEntry]:
    terms = _terms(query or "")
    if not terms:
        return entries
    found = []
    for entry in entries:
        text = entry.searchable()
        if all(_matches(entry, term, text) for term in terms):
            found.append(entry)
    return found


def catalog(session: Session, project: str, query: str | None = None) -> list[CatalogEntry]:
    """The project's current entities, views and services (in that order, each by name).

    ``query``: words that must all match, case-insensitively, somewhere in a
    definition's name, description, owner, tags, features (names, types,
    ``view:feature``), join keys or consumers; ``owner:risk``,
    ``tag:team=risk`` (or ``tag:team``), ``kind:view``, ``type:float64``,
    ``feature:spend`` and ``model:fraud`` match one part only.
    """
    project_id = _project_id(session, project)
    entries = catalog_entries(
        _newest(session, project_id),
        view_freshness(session, project_id),
        model_usages(session, project_id),
    )
    return _search(entries, query)
