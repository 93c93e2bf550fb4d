"""Historical retrieval: a training set from an entity dataframe and feature references.

Features are named ``view:feature`` (or by a ``FeatureService``); each view
named is read from its source, checked against its declaration, cut to the
columns asked for, and joined point-in-time (``_pit.py``). References
resolve against the project's definitions as the latest ``kiln features
apply`` left them, read on every call, or against the ``views`` passed.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput, NotFound
from kiln.features._definitions import FeatureService, FeatureView
from kiln.features._pit import ViewRows, point_in_time_join

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from kiln.context import Context

__all__ = ["get_historical_features", "resolve_features"]


def _close(wanted: str, known: Sequence[str]) -> str:
    matches = difflib.get_close_matches(wanted, known, n=3, cutoff=0.5)
    return f"; did you mean {', '.join(matches)}?" if matches else ""


def resolve_features(
    features: Sequence[str] | FeatureService, views: Sequence[FeatureView]
) -> list[tuple[FeatureView, list[str]]]:
    """Each view asked for with its features, in the order of first mention."""
    references = features.references() if isinstance(features, FeatureService) else features
    if isinstance(references, str) or not references:
        raise InvalidInput(
            "features must be a list of 'view:feature' references or a FeatureService",
            field="features",
        )
    by_name = {view.name: view for view in views}
    chosen: dict[str, list[str]] = {}
    for reference in references:
        name, colon, feature = str(reference).partition(":")
        if not colon:
            raise InvalidInput(
                f"feature reference {reference!r} is not 'view:feature'", field="features"
            )
        view = by_name.get(name)
        if view is None:
            raise NotFound(f"unknown feature view {name!r}{_close(name, list(by_name))}")
        if feature not in view.feature_names:
            raise NotFound(
                f"feature view {name!r} has no feature {feature!r}"
                f"{_close(feature, view.feature_names)}"
            )
        picked = chosen.setdefault(name, [])
        if feature not in picked:
            picked.append(feature)
    return [(by_name[name], picked) for name, picked in chosen.items()]


def _arrow(entity_df: Any) -> pa.Table:
    import pandas as pd
    import pyarrow as pa

    if isinstance(entity_df, pa.Table):
        return entity_df
    if isinstance(entity_df, pd.DataFrame):
        from kiln.features._sources import arrow_of

        return arrow_of(entity_df)
    raise InvalidInput(
        f"entity_df must be a pandas DataFrame or an Arrow table, got {type(entity_df).__name__}",
        field="entity_df",
    )


def get_historical_features(
    entity_df: Any,
    features: Sequence[str] | FeatureService,
    *,
    views: Sequence[FeatureView] | None = None,
    full_feature_names: bool = False,
    timestamp: str = "event_timestamp",
    context: Context | None = None,
) -> pd.DataFrame:
    """``entity_df`` with the features as they were at each row's ``timestamp``.

    Exactly one row per entity row, in order (docs/features.md has the
    rules). ``full_feature_names`` names columns ``view__feature``. Without
    ``views``, the applied definitions of the context's project are used.
    """
    entity = _arrow(entity_df)
    if views is None:
        from kiln.context import get_context
        from kiln.features._registry import current_definitions

        context = context or get_context()
        applied = context.db.read(current_definitions, context.settings.project)
        views = list(applied.views.values())
    rows = []
    for view, names in resolve_features(features, views):
        table = view.source.read()
        view.check_columns(table.schema)
        needed = [*view.join_keys, view.event_timestamp, *names]
        if view.created_timestamp:
            needed.append(view.created_timestamp)
        rows.append(
            ViewRows(
                name=view.name,
                table=table.select(needed),
                join_keys=tuple(view.join_keys),
                event_timestamp=view.event_timestamp,
                features=tuple(names),
                created_timestamp=view.created_timestamp,
                ttl=view.ttl,
            )
        )
    joined = point_in_time_join(entity, rows, timestamp=timestamp, full_names=full_feature_names)
    frame: pd.DataFrame = joined.to_pandas()
    return frame
