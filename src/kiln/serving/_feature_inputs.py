"""Requests that carry only entity keys: the model's features come from the online store.

A model version trained on ``get_historical_features`` records what it was
trained on (``kiln.features.TrainingFeatures``: the feature references,
their views' versions, the column naming). For such a model a request may
leave out the feature columns and send the entity keys instead (plus the
request-time fields of on-demand views): the server reads exactly those
features from the feature store's online store — the same definitions
training used — and fills the columns the request did not send. A value the
store does not have (``missing``) or holds past its ttl (``expired``) reaches
the model as null (NaN), as it did in training for an entity with no
history; the answer counts them. Where the model's input type cannot hold a
null (an integer column it was trained on without gaps) the request is
refused, naming the feature, rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput
from kiln.serving._inputs import Rows, rows_from_columns

if TYPE_CHECKING:
    from kiln.features import FeatureStore
    from kiln.serving._loaded import ServedModel

__all__ = ["FeatureFill", "fill_features"]


@dataclass(frozen=True, slots=True)
class FeatureFill:
    """What the online store gave one request: features read, and how many were not present."""

    features: tuple[str, ...]
    missing: int
    expired: int

    def to_dict(self) -> dict[str, Any]:
        return {"fetched": list(self.features), "missing": self.missing, "expired": self.expired}


def missing_columns(model: ServedModel, rows: Rows) -> list[str]:
    """The model's input columns the request did not send."""
    signature = model.signature
    if signature is None or signature.kind != "dataframe":
        return []
    return [name for name in signature.input_names if name not in rows.columns]


def fill_features(
    model: ServedModel, rows: Rows, store: FeatureStore
) -> tuple[Rows, FeatureFill | None]:
    """``rows`` with the model's missing feature columns read from the online store.

    Runs the online read (blocking I/O: call it off the event loop). Rows that
    hold every input column come back checked and cast, with no read.
    """
    signature = model.signature
    wanted = missing_columns(model, rows)
    if not wanted or model.features is None or signature is None:
        return rows_from_columns(rows.columns, signature), None
    entity_rows = {
        name: values.tolist() for name, values in rows.columns.items() if name not in wanted
    }
    try:
        found = store.get_online_features(entity_rows, model.features)
    except InvalidInput as error:  # name the request's field, not the store's argument
        field = (error.field or "").removeprefix("entity_rows.")
        raise InvalidInput(
            error.message.replace("entity_rows", "the request"), field=field
        ) from None
    filled = set(found.features) & set(wanted)
    columns: dict[str, Any] = {
        name: values for name, values in rows.columns.items() if name in signature.input_names
    }
    dtypes = {spec.name: spec.dtype for spec in signature.inputs}
    for name in filled:
        values = found.values[name]
        if dtypes[name].startswith(("int", "uint", "bool")) and None in values:
            absent = [s for s in found.statuses[name] if s != "present"]
            raise InvalidInput(
                f"feature {name!r} has no value for {len(absent)} of {rows.count} rows "
                f"({', '.join(sorted(set(absent)))} in the online store), and the model takes "
                f"{dtypes[name]}, which cannot hold a missing value: it was trained without "
                "missing values there; materialize the view or send the feature",
                field=name,
            )
        columns[name] = values
    statuses = [status for name in filled for status in found.statuses[name]]
    fill = FeatureFill(
        features=tuple(name for name in wanted if name in filled),
        missing=statuses.count("missing"),
        expired=statuses.count("expired"),
    )
    return rows_from_columns(columns, signature), fill
