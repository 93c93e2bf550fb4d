"""How feature rows become online-store keys and payloads, and back.

One encoding, used by every writer (materialization, push) and every reader
(in-process and HTTP), so a value written is the value read:

- the *table* of a view is ``project/view``;
- an *entity key* is the JSON array of the view's join key values, in the
  view's key order (``[42]``, ``["FR", 7]``); request values are first
  normalised to the declared key type, so ``42``, ``numpy.int64(42)`` and
  ``42.0`` name the same entity;
- a *payload* is a JSON object of the row's features: absent features read
  as missing (a row written before a feature was added), timestamps travel
  as integer microseconds since the epoch (UTC) and come back as aware
  datetimes, NaN becomes null, and ``±inf`` — which JSON cannot hold —
  travels as the strings ``"inf"`` / ``"-inf"`` and comes back a float.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from kiln.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "EPOCH",
    "decode_payload",
    "encode_key",
    "encode_keys",
    "encode_payloads",
    "from_micros",
    "normalize_key",
    "online_table",
    "to_micros",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INFINITIES: dict[Any, str] = {float("inf"): "inf", float("-inf"): "-inf"}
_MICROSECOND = timedelta(microseconds=1)


def online_table(project: str, view: str) -> str:
    """The online-store table of a view."""
    return f"{project}/{view}"


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is read as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def normalize_key(value: Any, dtype: str, key: str) -> Any:
    """A request's join key value as the declared type, or ``InvalidInput`` naming the key."""
    if dtype == "int64":
        if isinstance(value, bool) or value is None:
            raise InvalidInput(f"join key {key!r} must be an integer, got {value!r}", field=key)
        if isinstance(value, int):
            return value
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"join key {key!r} must be an integer, got {value!r}", field=key
            ) from None
        if not as_float.is_integer():
            raise InvalidInput(f"join key {key!r} must be an integer, got {value!r}", field=key)
        return int(as_float)
    if dtype == "string":
        if not isinstance(value, str):
            raise InvalidInput(f"join key {key!r} must be text, got {value!r}", field=key)
        return value
    if dtype == "bool":
        if not isinstance(value, bool):
            raise InvalidInput(f"join key {key!r} must be true or false, got {value!r}", field=key)
        return value
    if dtype == "timestamp":
        if isinstance(value, datetime):
            return to_micros(value)
        raise InvalidInput(f"join key {key!r} must be a timestamp, got {value!r}", field=key)
    raise InvalidInput(f"join key {key!r} cannot have type {dtype}", field=key)  # float64


def encode_key(values: Sequence[Any]) -> str:
    """The entity key of normalised join key values."""
    return orjson.dumps(list(values)).decode()


def _python_column(table: pa.Table, name: str) -> list[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table.column(name)
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        column = pc.cast(pc.cast(column, pa.timestamp("us", tz="UTC")), pa.int64())
    elif pa.types.is_floating(column.type):
        column = pc.if_else(pc.is_nan(column), None, column)
        if pc.any(pc.is_inf(column)).as_py():  # rare: a Python pass only then
            return [_INFINITIES.get(v, v) if v is not None else None for v in column.to_pylist()]
    values: list[Any] = column.to_pylist()
    return values


def encode_keys(table: pa.Table, join_keys: Sequence[str]) -> list[str]:
    """The entity key of each row of ``table`` (whose key columns are of the declared types)."""
    columns = [_python_column(table, key) for key in join_keys]
    dumps = orjson.dumps
    if len(columns) == 1:
        return [dumps([value]).decode() for value in columns[0]]
    return [dumps(list(values)).decode() for values in zip(*columns, strict=True)]


def encode_payloads(table: pa.Table, features: Sequence[str]) -> list[bytes]:
    """The payload of each row of ``table``: its ``features`` as a JSON object."""
    columns = [_python_column(table, name) for name in features]
    dumps = orjson.dumps
    names = list(features)
    return [dumps(dict(zip(names, values, strict=True))) for values in zip(*columns, strict=True)]


def decode_payload(
    payload: bytes, timestamps: Sequence[str], floats: Sequence[str] = ()
) -> dict[str, Any]:
    """A payload's features: ``timestamps`` come back as aware datetimes, ``floats`` as floats."""
    values: dict[str, Any] = orjson.loads(payload)
    for name in timestamps:
        value = values.get(name)
        if isinstance(value, int):
            values[name] = from_micros(value)
    for name in floats:
        value = values.get(name)
        if isinstance(value, str):  # "inf" or "-inf"
            values[name] = float(value)
    return values
