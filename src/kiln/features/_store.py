"""``FeatureStore``: one project's feature definitions, offline retrieval and online store.

The service the SDK functions, the CLI, the REST API and the UI all call.
It reads the applied definitions from the metadata store — rebuilt whenever
an apply changed them, checked on every call (``_generation.py``) — and
opens the online store named by ``online_store_url`` on first use. The
module-level functions (``kiln.features.get_online_features`` …) use one
store per context.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput, NotFound
from kiln.features._definitions import FeatureService, FeatureView
from kiln.features._loading import Definitions
from kiln.features._materialize import Materialization, Progress
from kiln.features._on_demand import OnDemandFeatureView
from kiln.features._online_read import OnlineFeatures, ReadPlan
from kiln.features._online_rows import online_table
from kiln.features._retrieval import as_utc
from kiln.features._training import TrainingFeatures

if TYPE_CHECKING:
    import pandas as pd

    from kiln.context import Context
    from kiln.features._online import OnlineStore
    from kiln.features._registry import ApplyResult
    from kiln.features._skew_report import SkewReport

__all__ = [
    "FeatureStore",
    "feature_store",
    "get_historical_features",
    "get_online_features",
    "materialize",
    "push",
]

References = Sequence[str] | FeatureService


class FeatureStore:
    """The feature store of the context's project."""

    def __init__(self, context: Context | None = None, *, online_store_url: str | None = None):
        from kiln.context import get_context
        from kiln.features._generation import GenerationProbe

        self.context = context or get_context()
        self.project = self.context.settings.project
        self.online_store_url = online_store_url or self.context.settings.resolved_online_store_url
        self._online: OnlineStore | None = None
        self._lock = threading.Lock()
        self._probe = GenerationProbe(self.context.db, self.project)
        self._generation = -1
        self._definitions = Definitions()
        self._versions: dict[tuple[str, str], int] = {}
        self._plans: dict[tuple[Any, ...], ReadPlan] = {}

    # -- definitions ---------------------------------------------------------------------------

    @property
    def online(self) -> OnlineStore:
        """The online store, opened on first use."""
        if self._online is None:
            from kiln.features._online import open_online_store

            with self._lock:
                if self._online is None:
                    self._online = open_online_store(self.online_store_url)
        return self._online

    def _refresh(self) -> None:
        generation = self._probe()
        if generation == self._generation:
            return
        from kiln.features._registry import current_definitions, current_versions

        with self._lock:
            definitions = self.context.db.read(current_definitions, self.project)
            versions = self.context.db.read(current_versions, self.project)
            self._definitions, self._versions = definitions, versions
            self._plans = {}
            self._generation = generation

    def definitions(self) -> Definitions:
        """The project's definitions as the latest apply left them."""
        self._refresh()
        return self._definitions

    def version_of(self, kind: str, name: str) -> int:
        """The current version of a definition (``kind``: entity, feature_view, feature_service)."""
        self._refresh()
        version = self._versions.get((kind, name))
        if version is None:
            raise NotFound(f"no {kind.replace('_', ' ')} {name!r} in project {self.project!r}")
        return version

    def view(self, name: str) -> FeatureView:
        """The applied feature view ``name``."""
        views = self.definitions().views
        if name not in views:
            import difflib

            close = difflib.get_close_matches(name, list(views), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise NotFound(f"unknown feature view {name!r}{hint}")
        return views[name]

    def service(self, name: str) -> FeatureService:
        """The applied feature service ``name``."""
        services = self.definitions().services
        if name not in services:
            raise NotFound(
                f"unknown feature service {name!r}; applied: {', '.join(services) or 'none'}"
            )
        return services[name]

    def _references(self, features: References | str) -> References:
        if isinstance(features, str):
            return self.service(features)
        return features

    def apply(
        self, definitions: Definitions | str | os.PathLike[str], *, user: str = ""
    ) -> ApplyResult:
        """Register definitions (or the definitions file or folder at a path); return the diff."""
        from kiln.features._loading import load_definitions
        from kiln.features._registry import apply_definitions

        if not isinstance(definitions, Definitions):
            definitions = load_definitions(definitions)
        return self.context.db.run(apply_definitions, self.project, definitions, user=user)

    # -- offline -------------------------------------------------------------------------------

    def get_historical_features(
        self,
        entity_df: Any = None,
        features: References | str = (),
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        full_feature_names: bool = False,
        timestamp: str = "event_timestamp",
        views: Sequence[FeatureView | OnDemandFeatureView] | None = None,
        record: bool = True,
    ) -> pd.DataFrame:
        """A point-in-time-correct training set (docs/features.md states the rules).

        ``features`` are ``view:feature`` references, a ``FeatureService`` or
        the name of an applied one. Without ``entity_df``, every entity that
        changed in ``[start, end]`` at each time it changed. Inside an active
        run (and unless ``record=False``) the run is tagged with what it got —
        features, service, view versions — and a model registered from the
        run inherits those tags.
        """
        from kiln.features._retrieval import historical_table

        references = self._references(features) if views is None else features
        if views is None:
            plain = list(self.definitions().views.values())
            on_demand = list(self.definitions().on_demand.values())
        else:
            plain = [v for v in views if isinstance(v, FeatureView)]
            on_demand = [v for v in views if isinstance(v, OnDemandFeatureView)]
        table = historical_table(
            plain,
            references,
            entity_df,
            on_demand=on_demand,
            start=start,
            end=end,
            full_feature_names=full_feature_names,
            timestamp=timestamp,
        )
        if record and views is None:
            self._record_training(references, full_feature_names)
        frame: pd.DataFrame = table.to_pandas()
        return frame

    def training_features(
        self, features: References | str, *, full_feature_names: bool = False
    ) -> TrainingFeatures:
        """What a model trained on ``features`` would record (see ``_training.py``)."""
        from kiln.features._retrieval import resolve_features
        from kiln.features._training import training_features

        references = self._references(features)
        definitions = self.definitions()
        chosen = resolve_features(
            references, [*definitions.views.values(), *definitions.on_demand.values()]
        )
        versions = {
            name: version
            for (kind, name), version in self._versions.items()
            if kind in ("feature_view", "on_demand_view")
        }
        return training_features(
            chosen,
            versions,
            service=references if isinstance(references, FeatureService) else None,
            full_feature_names=full_feature_names,
        )

    def _record_training(self, references: References, full_feature_names: bool) -> None:
        """Tag the active run, if any, with the features it is being given."""
        from kiln import tracking

        if tracking.active_run() is None:
            return
        record = self.training_features(references, full_feature_names=full_feature_names)
        tracking.set_tags(record.as_tags())

    # -- materialization -----------------------------------------------------------------------

    def _views(self, names: Sequence[str] | None) -> list[FeatureView]:
        if names is None:
            return list(self.definitions().views.values())
        return [self.view(name) for name in names]

    def materialize(
        self,
        views: Sequence[str] | None = None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        incremental: bool = False,
        progress: Progress | None = None,
        user: str = "",
    ) -> list[Materialization]:
        """Write the newest row per entity of each view in ``(start, end]`` to the online store.

        ``incremental`` starts each view at its watermark (the end of its
        last completed materialization; the beginning when there is none).
        ``end`` defaults to now. A failure is recorded and raised.
        """
        from kiln.config import mask_url
        from kiln.features._materialize import (
            fail_record,
            finish_record,
            materialize_view,
            start_record,
            watermark,
        )

        end = as_utc(end or datetime.now(UTC), "end")
        low = None if start is None else as_utc(start, "start")
        if incremental and low is not None:
            raise InvalidInput(
                "an incremental materialization starts at the watermark; "
                "give start or incremental, not both",
                field="start",
            )
        if low is not None and low >= end:
            raise InvalidInput(f"start {low} is not before end {end}", field="start")
        store_name = mask_url(self.online_store_url)
        db = self.context.db
        done = []
        for view in self._views(views):
            version = self.version_of("feature_view", view.name)
            begin = db.read(watermark, self.project, view.name, store_name) if incremental else low
            if begin is not None and begin >= end:
                continue  # nothing new since the watermark
            record = db.run(
                start_record,
                self.project,
                view=view.name,
                view_version=version,
                store=store_name,
                start=begin,
                end=end,
                user=user,
            )
            try:
                result = materialize_view(
                    self.online,
                    online_table(self.project, view.name),
                    view,
                    view_version=version,
                    start=begin,
                    end=end,
                    progress=progress,
                )
            except BaseException as error:
                db.run(fail_record, record, f"{type(error).__name__}: {error}")
                raise
            db.run(finish_record, record, result)
            done.append(result)
        return done

    def materialize_incremental(
        self,
        views: Sequence[str] | None = None,
        *,
        end: datetime | None = None,
        progress: Progress | None = None,
    ) -> list[Materialization]:
        """Materialize what is new in each view since its watermark, up to ``end`` (now)."""
        return self.materialize(views, end=end, incremental=True, progress=progress)

    # -- online --------------------------------------------------------------------------------

    def get_online_features(
        self,
        entity_rows: Any,
        features: References | str | TrainingFeatures,
        *,
        full_feature_names: bool = False,
        now: datetime | None = None,
    ) -> OnlineFeatures:
        """The current values of ``features`` for each entity row, with event times and status.

        ``entity_rows``: a list of ``{join key: value}`` dicts, a dict of
        lists or a DataFrame. Values older than a view's ttl (measured from
        ``now``, default the current time) come back ``expired`` and null.
        ``features`` may be a model's ``TrainingFeatures``: the same features
        under the same names as in training.
        """
        if isinstance(features, TrainingFeatures):
            full_feature_names = features.full_feature_names
            features = list(features.references)
        self._refresh()
        key: tuple[Any, ...]
        if isinstance(features, FeatureService):
            key = ("object", features.name, tuple(features.references()), full_feature_names)
        elif isinstance(features, str):
            key = ("service", features, full_feature_names)
        else:
            key = ("references", tuple(features), full_feature_names)
        plan = self._plans.get(key)
        if plan is None:
            plan = ReadPlan(
                self.project,
                list(self._definitions.views.values()),
                features if isinstance(features, FeatureService) else self._references(features),
                full_feature_names=full_feature_names,
                on_demand=list(self._definitions.on_demand.values()),
            )
            self._plans[key] = plan
        return plan.read(self.online, entity_rows, now=now)

    def push(self, view: str, rows: Any) -> int:
        """Write fresh rows of a push-sourced view online and append them to its offline log."""
        from kiln.features._push import push_rows

        found = self.view(view)
        return push_rows(self.online, online_table(self.project, found.name), found, rows)

    def close(self) -> None:
        """Release the online store's connections."""
        if self._online is not None:
            self._online.close()

    def check_skew(
        self,
        views: Sequence[str] | None = None,
        *,
        sample: int = 100,
        seed: int = 0,
        tolerance: float = 1e-9,
    ) -> SkewReport:
        """Compare a sample of online rows with what training reads for the same keys and times.

        ``sample`` entities per view (drawn with ``seed``), compared feature
        by feature as of the view's watermark; floats within ``tolerance``
        (relative). docs/features.md, "Skew check", states the rules.
        """
        from kiln.features._skew import check_store

        return check_store(self, views, sample=sample, seed=seed, tolerance=tolerance)


_STORES: weakref.WeakKeyDictionary[Context, FeatureStore] = weakref.WeakKeyDictionary()
_STORES_LOCK = threading.Lock()


def feature_store(context: Context | None = None) -> FeatureStore:
    """The feature store of ``context`` (the current one by default), made once per context."""
    from kiln.context import get_context

    context = context or get_context()
    store = _STORES.get(context)
    if store is None:
        with _STORES_LOCK:
            store = _STORES.get(context)
            if store is None:
                store = FeatureStore(context)
                _STORES[context] = store
    return store


def get_historical_features(
    entity_df: Any = None,
    features: References | str = (),
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    full_feature_names: bool = False,
    timestamp: str = "event_timestamp",
    views: Sequence[FeatureView | OnDemandFeatureView] | None = None,
    record: bool = True,
    context: Context | None = None,
) -> pd.DataFrame:
    """``FeatureStore.get_historical_features`` on the current context's store."""
    return feature_store(context).get_historical_features(
        entity_df,
        features,
        start=start,
        end=end,
        full_feature_names=full_feature_names,
        timestamp=timestamp,
        views=views,
        record=record,
    )


def get_online_features(
    entity_rows: Any,
    features: References | str | TrainingFeatures,
    *,
    full_feature_names: bool = False,
    context: Context | None = None,
) -> OnlineFeatures:
    """``FeatureStore.get_online_features`` on the current context's store."""
    return feature_store(context).get_online_features(
        entity_rows, features, full_feature_names=full_feature_names
    )


def materialize(
    views: Sequence[str] | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    incremental: bool = False,
    context: Context | None = None,
) -> list[Materialization]:
    """``FeatureStore.materialize`` on the current context's store, with a progress bar."""
    from kiln.features._progress import progress_bar

    with progress_bar() as progress:
        return feature_store(context).materialize(
            views, start=start, end=end, incremental=incremental, progress=progress
        )


def push(view: str, rows: Any, *, context: Context | None = None) -> int:
    """``FeatureStore.push`` on the current context's store."""
    return feature_store(context).push(view, rows)


def check_skew(
    views: Sequence[str] | None = None,
    *,
    sample: int = 100,
    seed: int = 0,
    tolerance: float = 1e-9,
    context: Context | None = None,
) -> SkewReport:
    """``FeatureStore.check_skew`` on the current context's store."""
    return feature_store(context).check_skew(views, sample=sample, seed=seed, tolerance=tolerance)
