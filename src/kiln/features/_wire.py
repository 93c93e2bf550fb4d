"""Feature-store input that arrives as JSON or command-line text: entity rows, pushed rows.

JSON has no timestamps and no difference between ``3`` and ``3.0``, and a
command line has only text, yet the store checks types strictly (a join
key declared ``int64`` must be an integer, a ``float64`` feature a float).
So values are read here against the declared types — ISO 8601 text for
timestamps, ``true``/``false`` for booleans, integers where floats are
declared — and a shape or a value that cannot be read is an
``InvalidInput`` naming the field (``entities[1]``, ``rows[0].spend``),
which the REST API answers with 400 and the CLI with exit code 6.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput
from kiln.features._definitions import FeatureView, arrow_type

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["entity_rows", "join_key_types", "pushed_rows", "read_value"]

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def read_value(value: Any, dtype: str, where: str) -> Any:
    """``value`` (JSON or text) as the Python value of a declared type; None stays None."""
    if value is None:
        return None
    if dtype == "timestamp":
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                pass
            else:
                return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        raise InvalidInput(
            f"{where} must be an ISO 8601 time such as 2026-06-01T12:00:00Z, got {value!r}",
            field=where,
        )
    if dtype == "bool" and isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise InvalidInput(f"{where} must be true or false, got {value!r}", field=where)
    if dtype == "int64" and isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise InvalidInput(f"{where} must be an integer, got {value!r}", field=where) from None
    if dtype == "float64" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def join_key_types(views: Mapping[str, FeatureView], references: Sequence[str]) -> dict[str, str]:
    """The join keys (with their types) of the views that ``view:feature`` references name."""
    keys: dict[str, str] = {}
    for reference in references:
        view = views.get(str(reference).partition(":")[0])
        if view is not None:
            keys.update(view.join_keys)
    return keys


def entity_rows(entities: Any, keys: Mapping[str, str], *, field: str = "entities") -> Any:
    """Entity rows from JSON: ``{"key": [values]}`` or ``[{"key": value}, ...]``.

    Values of the ``keys`` given are read as their declared types; the
    store checks everything else (missing keys, wrong types) itself.
    """
    if isinstance(entities, Mapping):
        columns: dict[str, list[Any]] = {}
        for key, values in entities.items():
            if not isinstance(values, list):
                raise InvalidInput(
                    f"{field}.{key} must be a list of values (one per entity), got "
                    f"{type(values).__name__}",
                    field=f"{field}.{key}",
                )
            dtype = keys.get(str(key))
            columns[str(key)] = (
                values
                if dtype is None
                else [read_value(v, dtype, f"{field}.{key}[{i}]") for i, v in enumerate(values)]
            )
        return columns
    if isinstance(entities, list):
        rows = []
        for index, row in enumerate(entities):
            if not isinstance(row, Mapping):
                raise InvalidInput(
                    f"{field}[{index}] must be an object of join keys, got {type(row).__name__}",
                    field=f"{field}[{index}]",
                )
            rows.append(
                {
                    str(key): value
                    if keys.get(str(key)) is None
                    else read_value(value, keys[str(key)], f"{field}[{index}].{key}")
                    for key, value in row.items()
                }
            )
        return rows
    raise InvalidInput(
        f'{field} must be an object of lists ({{"customer_id": [1, 2]}}) or a list of objects '
        f'([{{"customer_id": 1}}]), got {type(entities).__name__}',
        field=field,
    )


def _typed(value: Any, dtype: str, where: str) -> Any:
    """``read_value``, then refuse a value of another type, naming where it was."""
    value = read_value(value, dtype, where)
    expected = {
        "int64": int,
        "float64": float,
        "string": str,
        "bool": bool,
        "timestamp": datetime,
    }[dtype]
    if value is not None and (
        not isinstance(value, expected) or (dtype == "int64" and isinstance(value, bool))
    ):
        raise InvalidInput(
            f"{where} must be {dtype}, got {type(value).__name__} {value!r}", field=where
        )
    return value


def pushed_rows(view: FeatureView, rows: Any, *, field: str = "rows") -> pa.Table:
    """Rows to push from JSON as an Arrow table of the view's declared columns and types.

    Every row needs the join keys and the event time; a feature left out is
    null; a column the view does not declare is refused (a typo would
    otherwise push nulls).
    """
    import pyarrow as pa

    from kiln.features._sources import PushSource

    if not isinstance(view.source, PushSource):  # say so before picking at the rows
        raise InvalidInput(
            f"feature view {view.name!r} reads a {view.source.kind} source; only views with a "
            "PushSource accept pushed rows",
            field="view",
        )
    if not isinstance(rows, list) or not rows:
        raise InvalidInput(f"{field} must be a non-empty list of objects", field=field)
    required = {**view.join_keys, view.event_timestamp: "timestamp"}
    columns = {
        **required,
        **({view.created_timestamp: "timestamp"} if view.created_timestamp else {}),
        **{f.name: f.dtype for f in view.features},
    }
    found: dict[str, list[Any]] = {name: [] for name in columns}
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise InvalidInput(
                f"{field}[{index}] must be an object of columns, got {type(row).__name__}",
                field=f"{field}[{index}]",
            )
        unknown = [str(name) for name in row if name not in columns]
        if unknown:
            raise InvalidInput(
                f"{field}[{index}] has {', '.join(map(repr, unknown))}, which feature view "
                f"{view.name!r} does not declare; its columns are {', '.join(columns)}",
                field=f"{field}[{index}].{unknown[0]}",
            )
        for name in required:
            if row.get(name) is None:
                raise InvalidInput(
                    f"{field}[{index}] lacks {name!r}: every pushed row needs the join keys and "
                    "the event time",
                    field=f"{field}[{index}].{name}",
                )
        for name, dtype in columns.items():
            found[name].append(_typed(row.get(name), dtype, f"{field}[{index}].{name}"))
    return pa.table(
        {name: pa.array(values, arrow_type(columns[name])) for name, values in found.items()}
    )
