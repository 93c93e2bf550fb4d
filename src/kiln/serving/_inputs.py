"""Request bodies of ``POST /v1/models/{name}/predict`` → checked, typed NumPy columns.

A body names its rows one of these ways (MLflow's spellings are accepted
too, so existing clients work)::

    {"records": [{"amount": 12.5, "hour": 3}, ...]}          # or "dataframe_records"
    {"columns": {"amount": [12.5, 40.0], "hour": [3, 4]}}    # or "inputs" as a dict
    {"dataframe_split": {"columns": ["amount", "hour"], "data": [[12.5, 3], ...]}}
    {"instances": [[12.5, 3], ...]}                          # positional, or a list of dicts

Each column is converted once, with NumPy, to the dtype the model's
signature declares, by the same safe-cast rules as ``Signature.enforce``
(integers to floats yes, floats or text into integers no, a null into an
integer no). A missing, extra or mistyped column is ``InvalidInput`` whose
``field`` names it — the server answers 400 — and nothing reaches the
model. The result is a ``Rows``: columns of equal length, which the
batcher can concatenate across requests without building a DataFrame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np

    from kiln.models import Signature

__all__ = ["Rows", "parse_body", "rows_from_columns"]

_RECORDS = ("records", "dataframe_records")
_COLUMNS = ("columns", "inputs")
_KEYS = (*_RECORDS, *_COLUMNS, "dataframe_split", "instances")
#: Body keys that are not rows: how to answer, and what to call the request.
_OPTIONS = ("method", "params", "parameters", "id", "request_id", "key")
#: The column name of an ndarray signature's single input.
ARRAY = "input"


@dataclass(frozen=True, slots=True)
class Rows:
    """A request's rows as columns of one length (``kind`` after the model's signature)."""

    columns: dict[str, np.ndarray[Any, Any]]
    count: int
    kind: str = "dataframe"

    def model_input(self) -> Any:
        """What the predictor takes: the columns (a dict), or the array of an ndarray model."""
        if self.kind == "ndarray":
            return self.columns[ARRAY]
        return self.columns


def parse_body(body: Any, signature: Signature | None) -> tuple[Rows, dict[str, Any]]:
    """The rows of a decoded JSON body, and its options (``method``, ``id``…)."""
    if isinstance(body, list):
        body = {"instances": body}
    if not isinstance(body, dict):
        raise InvalidInput(
            f"the body must be a JSON object with one of {', '.join(_KEYS)}", field="body"
        )
    found = [key for key in _KEYS if key in body]
    if len(found) != 1:
        what = "none" if not found else " and ".join(found)
        raise InvalidInput(
            f"the body must hold exactly one of {', '.join(_KEYS)}; it holds {what}",
            field="body",
        )
    unknown = sorted(set(body) - set(_KEYS) - set(_OPTIONS))
    if unknown:
        raise InvalidInput(f"unknown body field {unknown[0]!r}", field=unknown[0])
    key = found[0]
    value = body[key]
    options = {k: body[k] for k in _OPTIONS if k in body}
    if key in _RECORDS:
        return _from_records(value, signature, key), options
    if key in _COLUMNS:
        if not isinstance(value, dict):
            raise InvalidInput(f"{key!r} must be an object of column → values", field=key)
        return rows_from_columns(value, signature, where=key), options
    if key == "dataframe_split":
        return _from_split(value, signature), options
    return _from_instances(value, signature), options


def _names(signature: Signature | None) -> list[str] | None:
    if signature is None or signature.kind == "ndarray":
        return None
    return signature.input_names


def _from_records(records: Any, signature: Signature | None, key: str) -> Rows:
    if not isinstance(records, list) or not records:
        raise InvalidInput(f"{key!r} must be a non-empty list of objects", field=key)
    names = _names(signature)
    if names is None:  # no signature: the first record says what the columns are
        first = records[0]
        if not isinstance(first, dict):
            raise InvalidInput(f"{key}[0] must be an object", field=f"{key}[0]")
        names = [str(name) for name in first]
    expected = set(names)
    for position, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidInput(f"{key}[{position}] must be an object", field=f"{key}[{position}]")
        if record.keys() != expected:
            _record_mismatch(record, names, f"{key}[{position}]")
    columns = {name: [record[name] for record in records] for name in names}
    return rows_from_columns(columns, signature, where=key)


def _record_mismatch(record: Mapping[str, Any], names: Sequence[str], where: str) -> None:
    missing = [name for name in names if name not in record]
    if missing:
        raise InvalidInput(f"{where} has no {missing[0]!r}", field=missing[0])
    extra = sorted(str(name) for name in record if name not in names)
    raise InvalidInput(
        f"{where} has the unexpected field {extra[0]!r}; the model takes {', '.join(names)}",
        field=extra[0],
    )


def _from_split(split: Any, signature: Signature | None) -> Rows:
    if not isinstance(split, dict) or not isinstance(split.get("data"), list):
        raise InvalidInput(
            "'dataframe_split' must be an object with 'columns' and 'data'",
            field="dataframe_split",
        )
    names = split.get("columns") or _names(signature)
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise InvalidInput(
            "'dataframe_split.columns' must be a list of names", field="dataframe_split.columns"
        )
    return _from_positional(split["data"], names, signature, "dataframe_split.data")


def _from_instances(instances: Any, signature: Signature | None) -> Rows:
    if not isinstance(instances, list) or not instances:
        raise InvalidInput("'instances' must be a non-empty list", field="instances")
    if isinstance(instances[0], dict):
        return _from_records(instances, signature, "instances")
    if signature is not None and signature.kind == "ndarray":
        return rows_from_columns({ARRAY: instances}, signature, where="instances")
    names = _names(signature)
    if names is None:
        raise InvalidInput(
            "this model has no signature: send 'records' or 'columns' with named fields",
            field="instances",
        )
    return _from_positional(instances, names, signature, "instances")


def _from_positional(
    data: list[Any], names: list[str], signature: Signature | None, where: str
) -> Rows:
    width = len(names)
    for position, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            raise InvalidInput(
                f"{where}[{position}] must be a list of {width} values ({', '.join(names)})",
                field=f"{where}[{position}]",
            )
    columns = {name: [row[i] for row in data] for i, name in enumerate(names)}
    return rows_from_columns(columns, signature, where=where)


def rows_from_columns(
    columns: Mapping[str, Any], signature: Signature | None, *, where: str = "columns"
) -> Rows:
    """Named columns (lists or arrays) checked and cast to ``signature``."""

    if signature is None:
        untyped = {str(name): _array(values, str(name)) for name, values in columns.items()}
        return _rows(untyped, "dataframe")
    if signature.kind == "ndarray":
        (spec,) = signature.inputs
        return _rows({ARRAY: _typed(columns[ARRAY], spec.name, spec.dtype, spec.shape)}, "ndarray")
    names = signature.input_names
    for name in names:
        if name not in columns:
            raise InvalidInput(
                f"{where} has no {name!r}; the model takes {', '.join(names)}", field=name
            )
    if len(columns) > len(names):
        extra = sorted(str(name) for name in columns if name not in names)
        raise InvalidInput(
            f"unexpected field {extra[0]!r}; the model takes {', '.join(names)}", field=extra[0]
        )
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for spec in signature.inputs:
        arrays[spec.name] = _typed(columns[spec.name], spec.name, spec.dtype, spec.shape)
    return _rows(arrays, signature.kind)


def _rows(arrays: dict[str, np.ndarray[Any, Any]], kind: str) -> Rows:
    lengths = {len(array) for array in arrays.values()}
    if len(lengths) > 1:
        sizes = ", ".join(f"{name}: {len(array)}" for name, array in arrays.items())
        raise InvalidInput(f"columns differ in length ({sizes})", field=next(iter(arrays)))
    count = lengths.pop() if lengths else 0
    if count == 0:
        raise InvalidInput("the request has no rows", field="body")
    return Rows(arrays, count, kind)


def _array(values: Any, name: str) -> np.ndarray[Any, Any]:
    import numpy as np

    if isinstance(values, np.ndarray):
        return values
    if not isinstance(values, list):
        raise InvalidInput(f"{name!r} must be a list of values", field=name)
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name!r} cannot be read as an array: {exc}", field=name) from None
    if array.dtype.kind == "O" and array.ndim > 1:  # ragged nested lists
        raise InvalidInput(f"{name!r} holds rows of different lengths", field=name)
    return array


def _typed(values: Any, name: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """One column as ``dtype``, after the signature's safe-cast rules."""
    from kiln.models._dtypes import CATEGORY, OBJECT, STRING, cast

    array = _array(values, name)
    if array.ndim != len(shape) or any(
        size not in (-1, actual) for size, actual in zip(shape, array.shape, strict=True)
    ):
        wanted = "(" + ", ".join("rows" if size == -1 else str(size) for size in shape) + ")"
        raise InvalidInput(
            f"{name!r} must have shape {wanted}, got {tuple(array.shape)}", field=name
        )
    if dtype in (STRING, CATEGORY):
        if array.dtype.kind != "U":
            raise InvalidInput(f"{name!r} expects text, got {_described(array)}", field=name)
        return array.astype(object)
    if dtype == OBJECT:
        return array
    if array.dtype.kind in "OU" and dtype.startswith(("int", "uint", "bool")):
        raise InvalidInput(f"{name!r} expects {dtype}, got {_described(array)}", field=name)
    if array.dtype.kind == "O" and dtype.startswith("float"):
        return _floats_with_nulls(array, name, dtype)
    result: np.ndarray[Any, Any] = cast(array, name, dtype)
    return result


def _floats_with_nulls(array: np.ndarray[Any, Any], name: str, dtype: str) -> np.ndarray[Any, Any]:
    """A float column holding nulls (JSON's stand-in for a missing value): nulls become NaN."""
    import numpy as np

    flat = array.reshape(-1)
    for value in flat:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidInput(f"{name!r} expects {dtype}, got {value!r}", field=name)
    values = [np.nan if value is None else value for value in flat]
    return np.asarray(values, dtype=dtype).reshape(array.shape)


def _described(array: np.ndarray[Any, Any]) -> str:
    if array.dtype.kind == "U":
        return "text"
    if array.dtype.kind == "O":
        return "nulls or mixed values"
    return f"{array.dtype.name} values"
