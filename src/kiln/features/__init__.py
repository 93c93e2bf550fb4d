"""The feature store: features defined once, point-in-time-correct training sets, fast online reads.

Define entities, sources, feature views and services in code; ``kiln
features apply`` versions them in the metadata store. Training sets come
from ``get_historical_features`` (exact point-in-time joins on DuckDB);
``materialize`` copies the newest values into the online store (SQLite by
default, Redis in production) and ``get_online_features`` reads them back
with their event times and status; ``check_skew`` compares a sample of
online rows with what training reads. docs/features.md has the details.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiln.features._catalog import CatalogEntry, catalog
    from kiln.features._definitions import TYPES, Entity, FeatureService, FeatureView, Field
    from kiln.features._describe import describe
    from kiln.features._loading import Definitions, load_definitions
    from kiln.features._materialize import Materialization
    from kiln.features._on_demand import OnDemandFeatureView, RequestSource
    from kiln.features._online import OnlineStore, open_online_store
    from kiln.features._online_read import OnlineFeatures
    from kiln.features._registry import ApplyResult
    from kiln.features._skew_report import SkewMismatch, SkewReport, ViewSkew
    from kiln.features._sources import (
        CsvSource,
        DatasetSource,
        DuckDBSource,
        ParquetSource,
        PostgresSource,
        PushSource,
        Source,
    )
    from kiln.features._store import (
        FeatureStore,
        check_skew,
        feature_store,
        get_historical_features,
        get_online_features,
        materialize,
        push,
    )
    from kiln.features._training import TrainingFeatures

__all__ = [
    "TYPES",
    "ApplyResult",
    "CatalogEntry",
    "CsvSource",
    "DatasetSource",
    "Definitions",
    "DuckDBSource",
    "Entity",
    "FeatureService",
    "FeatureStore",
    "FeatureView",
    "Field",
    "Materialization",
    "OnDemandFeatureView",
    "OnlineFeatures",
    "OnlineStore",
    "ParquetSource",
    "PostgresSource",
    "PushSource",
    "RequestSource",
    "SkewMismatch",
    "SkewReport",
    "Source",
    "TrainingFeatures",
    "ViewSkew",
    "catalog",
    "check_skew",
    "describe",
    "feature_store",
    "get_historical_features",
    "get_online_features",
    "load_definitions",
    "materialize",
    "open_online_store",
    "push",
]

_HOMES = {
    "CatalogEntry": "_catalog",
    "catalog": "_catalog",
    "describe": "_describe",
    "TYPES": "_definitions",
    "Entity": "_definitions",
    "FeatureService": "_definitions",
    "FeatureView": "_definitions",
    "Field": "_definitions",
    "Definitions": "_loading",
    "load_definitions": "_loading",
    "Materialization": "_materialize",
    "OnDemandFeatureView": "_on_demand",
    "RequestSource": "_on_demand",
    "OnlineStore": "_online",
    "open_online_store": "_online",
    "OnlineFeatures": "_online_read",
    "ApplyResult": "_registry",
    "SkewMismatch": "_skew_report",
    "SkewReport": "_skew_report",
    "ViewSkew": "_skew_report",
    "CsvSource": "_sources",
    "DatasetSource": "_sources",
    "DuckDBSource": "_sources",
    "ParquetSource": "_sources",
    "PostgresSource": "_sources",
    "PushSource": "_sources",
    "Source": "_sources",
    "FeatureStore": "_store",
    "check_skew": "_store",
    "feature_store": "_store",
    "get_historical_features": "_store",
    "get_online_features": "_store",
    "materialize": "_store",
    "push": "_store",
    "TrainingFeatures": "_training",
}


def __getattr__(name: str) -> Any:
    """Import each public name on first use, so ``import kiln.features`` stays light."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'kiln.features' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"kiln.features.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
