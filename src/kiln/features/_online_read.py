"""Online reads: the current feature values of some entities, with their times and status.

A read is planned once per set of definitions and feature references (which
views, which tables, which output names, which ttl) and then costs, per
view, one key encoding per entity, one store read and one payload decode
per entity. Each value comes with its row's event timestamp and a status:

- ``present``: a row was found and is within the view's ttl;
- ``missing``: no row for that entity, or the row predates the feature;
- ``expired``: a row was found but is older than the ttl (its value is
  withheld, as in historical retrieval).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput
from kiln.features._definitions import FeatureService, FeatureView
from kiln.features._on_demand import OnDemandFeatureView, on_demand_inputs
from kiln.features._online_rows import (
    decode_payload,
    encode_key,
    from_micros,
    normalize_key,
    online_table,
    to_micros,
)
from kiln.features._pit import output_names
from kiln.features._retrieval import resolve_features

if TYPE_CHECKING:
    import pandas as pd

    from kiln.features._online import OnlineStore

__all__ = ["EXPIRED", "MISSING", "PRESENT", "OnlineFeatures", "ReadPlan", "entity_columns"]

PRESENT, MISSING, EXPIRED = "present", "missing", "expired"
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class _ViewPlan:
    view: FeatureView
    table: str
    features: tuple[str, ...]
    outputs: tuple[str, ...]
    timestamps: tuple[str, ...]
    floats: tuple[str, ...]
    ttl_micros: int | None


@dataclass(frozen=True, slots=True)
class OnlineFeatures:
    """The result of an online read, one entry per entity row for every column.

    ``values`` holds the join keys given and each feature; ``statuses`` and
    ``event_timestamps`` hold, per feature, the status and the event time of
    the row it came from.
    """

    keys: tuple[str, ...]
    features: tuple[str, ...]
    values: dict[str, list[Any]]
    statuses: dict[str, list[str]]
    event_timestamps: dict[str, list[datetime | None]]

    def to_dict(self) -> dict[str, list[Any]]:
        """Column name → values (keys first), like a dataframe's columns."""
        return dict(self.values)

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.values)

    def to_json(self) -> dict[str, Any]:
        """The HTTP body: names, then per column its values, statuses and event times."""
        results = []
        for name in self.keys:
            results.append({"values": self.values[name]})
        for name in self.features:
            results.append(
                {
                    "values": [
                        value.isoformat() if isinstance(value, datetime) else value
                        for value in self.values[name]
                    ],
                    "statuses": self.statuses[name],
                    "event_timestamps": [
                        None if moment is None else moment.isoformat()
                        for moment in self.event_timestamps[name]
                    ],
                }
            )
        return {"feature_names": [*self.keys, *self.features], "results": results}


def entity_columns(entity_rows: Any) -> tuple[dict[str, list[Any]], int]:
    """Entity rows (a list of dicts, a dict of lists, or a DataFrame) as columns and a count."""
    import pandas as pd

    if isinstance(entity_rows, pd.DataFrame):
        return {str(k): v.tolist() for k, v in entity_rows.items()}, len(entity_rows)
    if isinstance(entity_rows, Mapping):
        columns = {str(k): list(v) for k, v in entity_rows.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise InvalidInput(
                f"entity_rows columns have different lengths: "
                f"{', '.join(f'{k}={len(v)}' for k, v in columns.items())}",
                field="entity_rows",
            )
        return columns, lengths.pop() if lengths else 0
    if isinstance(entity_rows, Sequence) and not isinstance(entity_rows, str | bytes):
        names: dict[str, None] = {}
        for index, row in enumerate(entity_rows):
            if not isinstance(row, Mapping):
                raise InvalidInput(
                    f"entity_rows[{index}] is {type(row).__name__}, not a mapping of join keys",
                    field=f"entity_rows[{index}]",
                )
            names.update(dict.fromkeys(row))
        return {name: [row.get(name) for row in entity_rows] for name in names}, len(entity_rows)
    raise InvalidInput(
        "entity_rows must be a list of {join key: value} dicts, a dict of lists or a DataFrame",
        field="entity_rows",
    )


class ReadPlan:
    """How to read a set of feature references from the online store."""

    keys: tuple[str, ...]
    features: tuple[str, ...]

    def __init__(
        self,
        project: str,
        views: Sequence[FeatureView],
        features: Sequence[str] | FeatureService,
        *,
        full_feature_names: bool,
        on_demand: Sequence[OnDemandFeatureView] = (),
    ) -> None:
        chosen = resolve_features(features, [*views, *on_demand])
        outputs = output_names(
            [(view.name, names) for view, names in chosen], full_names=full_feature_names
        )
        plans: list[_ViewPlan] = []
        derived: list[tuple[OnDemandFeatureView, tuple[str, ...], tuple[str, ...], ReadPlan]] = []
        position = 0
        for view, names in chosen:
            if isinstance(view, OnDemandFeatureView):
                inputs = ReadPlan(
                    project, view.views, view.input_references(), full_feature_names=False
                )
                derived.append(
                    (view, tuple(names), tuple(outputs[position : position + len(names)]), inputs)
                )
                position += len(names)
                continue
            dtypes = {f.name: f.dtype for f in view.features}
            plans.append(
                _ViewPlan(
                    view=view,
                    table=online_table(project, view.name),
                    features=tuple(names),
                    outputs=tuple(outputs[position : position + len(names)]),
                    timestamps=tuple(n for n in names if dtypes[n] == "timestamp"),
                    floats=tuple(n for n in names if dtypes[n] == "float64"),
                    ttl_micros=None if view.ttl is None else view.ttl // _MICROSECOND,
                )
            )
            position += len(names)
        self.views = plans
        self.on_demand = derived
        keys = [k for p in plans for k in p.view.join_keys]
        keys += [k for *_, inputs in derived for k in inputs.keys]
        self.keys = tuple(dict.fromkeys(keys))
        self.features = tuple(outputs)

    def read(
        self, store: OnlineStore, entity_rows: Any, *, now: datetime | None = None
    ) -> OnlineFeatures:
        columns, count = entity_columns(entity_rows)
        missing = [key for key in self.keys if key not in columns]
        if missing:
            raise InvalidInput(
                f"entity_rows lack the join keys {', '.join(missing)} (they have "
                f"{', '.join(columns) or 'nothing'})",
                field=f"entity_rows.{missing[0]}",
            )
        moment = to_micros(now or datetime.now(UTC))
        values: dict[str, list[Any]] = {key: columns[key] for key in self.keys}
        statuses: dict[str, list[str]] = {}
        times: dict[str, list[datetime | None]] = {}
        for plan in self.views:
            join_keys = plan.view.join_keys
            key_columns = [
                [normalize_key(value, dtype, key) for value in columns[key]]
                for key, dtype in join_keys.items()
            ]
            keys = [encode_key(parts) for parts in zip(*key_columns, strict=True)]
            stored = store.read(plan.table, keys) if keys else []
            found_values: list[list[Any]] = [[None] * count for _ in plan.features]
            found_status: list[list[str]] = [[MISSING] * count for _ in plan.features]
            found_times: list[list[datetime | None]] = [[None] * count for _ in plan.features]
            for row_index, item in enumerate(stored):
                if item is None:
                    continue
                event, payload = item
                expired = plan.ttl_micros is not None and moment - event > plan.ttl_micros
                stamp = from_micros(event)
                decoded = None if expired else decode_payload(payload, plan.timestamps, plan.floats)
                for index, feature in enumerate(plan.features):
                    if expired:
                        found_status[index][row_index] = EXPIRED
                        found_times[index][row_index] = stamp
                    elif decoded is not None and feature in decoded:
                        found_values[index][row_index] = decoded[feature]
                        found_status[index][row_index] = PRESENT
                        found_times[index][row_index] = stamp
            for index, name in enumerate(plan.outputs):
                values[name] = found_values[index]
                statuses[name] = found_status[index]
                times[name] = found_times[index]
        for view, names, labels, inputs in self.on_demand:
            read = inputs.read(store, columns, now=now)
            given = {**columns, **read.values}
            computed = view.run(on_demand_inputs(view, given))
            status = _combined(read, count)
            newest = _newest(read, count)
            for name, label in zip(names, labels, strict=True):
                values[label] = computed.column(name).to_pylist()
                statuses[label] = status
                times[label] = newest
        return OnlineFeatures(self.keys, self.features, values, statuses, times)


def _newest(read: OnlineFeatures, count: int) -> list[datetime | None]:
    """Per row, the newest event time among an on-demand view's inputs."""
    found: list[datetime | None] = [None] * count
    for moments in read.event_timestamps.values():
        for index, moment in enumerate(moments):
            current = found[index]
            if moment is not None and (current is None or moment > current):
                found[index] = moment
    return found


def _combined(read: OnlineFeatures, count: int) -> list[str]:
    """Per row, the worst status of an on-demand view's inputs (missing, expired, present)."""
    found = [PRESENT] * count
    for statuses in read.statuses.values():
        for index, status in enumerate(statuses):
            if status == MISSING or (status == EXPIRED and found[index] == PRESENT):
                found[index] = status
    return found
