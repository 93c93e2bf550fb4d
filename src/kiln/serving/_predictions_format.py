"""The prediction log's Parquet layout: records in, one file per batch, tables out.

One row per request. The scalar fields are flat typed columns; a request's
inputs and outputs are JSON text (orjson), because their columns change from
one model version to the next and a fixed Parquet schema could not hold
them all. Rows are sorted by time within a file. The schema carries
``kiln.prediction_log = 1`` in its metadata, the layout's version.

This module is imported by the flusher thread and by readers, never on the
request path: pyarrow loads here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from kiln.errors import Conflict

if TYPE_CHECKING:
    from kiln.artifacts import ArtifactStore, Blob
    from kiln.serving._prediction_log import PredictionRecord

__all__ = ["SCHEMA", "Built", "build_table", "dumps", "read_blob", "store_table"]

#: The layout's version, in the Parquet schema's metadata.
FORMAT_VERSION = b"1"

SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("deployment", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("version", pa.int64()),
        pa.field("route", pa.string(), nullable=False),
        pa.field("n_rows", pa.int64(), nullable=False),
        pa.field("latency_ms", pa.float64(), nullable=False),
        pa.field("status", pa.int32(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("inputs", pa.string(), nullable=False),
        pa.field("outputs", pa.string(), nullable=False),
    ],
    metadata={b"kiln.prediction_log": FORMAT_VERSION},
)

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    """What orjson cannot write itself: NumPy text/object arrays, pandas values, dates."""
    for method in ("tolist", "item", "isoformat"):
        convert = getattr(value, method, None)
        if callable(convert):
            return convert()
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def dumps(value: Any) -> bytes:
    """JSON of a request's inputs or outputs (NaN and infinities become null)."""
    return orjson.dumps(value, default=_default, option=_JSON_OPTIONS)


@dataclass(frozen=True, slots=True)
class Built:
    """A batch as an Arrow table, with what its index row records."""

    table: pa.Table
    #: Records left out because a field had the wrong type (counted, logged).
    invalid: int
    input_rows: int
    first_time: datetime
    last_time: datetime
    #: The first reason a record was left out, for the log line.
    reason: str | None = None


#: The flat columns, read straight off the records' attributes.
_FLAT = tuple(field.name for field in SCHEMA if field.name not in ("inputs", "outputs"))


def _check(record: PredictionRecord) -> None:
    """``TypeError``/``ValueError`` saying which field of ``record`` is wrong, if one is."""
    for name in ("request_id", "deployment", "model", "route"):
        if not isinstance(getattr(record, name), str):
            raise TypeError(f"{name} must be a string")
    if record.version is not None and (
        not isinstance(record.version, int) or isinstance(record.version, bool)
    ):
        raise TypeError("version must be an int or None")
    if not isinstance(record.n_rows, int) or record.n_rows < 0:
        raise ValueError("n_rows must be an int from 0")
    if not isinstance(record.latency_ms, int | float) or not isinstance(record.status, int):
        raise TypeError("latency_ms must be a number and status an int")
    if record.error is not None and not isinstance(record.error, str):
        raise TypeError("error must be a string or None")
    if not isinstance(record.time, datetime) or record.time.tzinfo is None:
        raise ValueError("time must be a timezone-aware datetime")
    if not isinstance(record.inputs, Mapping) or not isinstance(record.outputs, Mapping):
        raise TypeError("inputs and outputs must be mappings of name to values")


def build_table(records: Sequence[PredictionRecord]) -> Built | None:
    """The records as a table sorted by time; None when none of them is valid.

    Columns are gathered attribute by attribute rather than row by row: no
    tuple per record, so a large batch does not set off the cyclic garbage
    collector over the buffered records again and again.
    """
    import pyarrow.compute as pc

    valid: list[PredictionRecord] = []
    inputs: list[bytes] = []
    outputs: list[bytes] = []
    reason: str | None = None
    for record in records:
        try:
            _check(record)
            encoded = dumps(record.inputs), dumps(record.outputs)
        except (AttributeError, TypeError, ValueError, OverflowError) as error:
            reason = reason or f"request {getattr(record, 'request_id', '?')!r}: {error}"
            continue
        valid.append(record)
        inputs.append(encoded[0])
        outputs.append(encoded[1])
    if not valid:
        return None
    columns: dict[str, list[Any]] = {name: list(map(attrgetter(name), valid)) for name in _FLAT}
    columns["inputs"], columns["outputs"] = inputs, outputs
    arrays = [pa.array(columns[field.name], type=field.type) for field in SCHEMA]
    table = pa.Table.from_arrays(arrays, schema=SCHEMA).sort_by("time")
    times = pc.min_max(table["time"])
    return Built(
        table=table,
        invalid=len(records) - len(valid),
        input_rows=sum(columns["n_rows"]),
        first_time=times["min"].as_py(),
        last_time=times["max"].as_py(),
        reason=reason,
    )


def store_table(artifacts: ArtifactStore, table: pa.Table) -> Blob:
    """Write the table as one zstd Parquet file into the artifact store."""
    with tempfile.TemporaryDirectory(prefix="kiln-predictions-") as folder:
        path = Path(folder) / "predictions.parquet"
        pq.write_table(table, path, compression="zstd")
        return artifacts.put_file(path)


def read_blob(artifacts: ArtifactStore, digest: str) -> pa.Table:
    """One batch's table; ``Conflict`` when the blob is not readable Parquet."""
    with artifacts.open(digest) as file:
        try:
            return pq.read_table(file)
        except (OSError, pa.ArrowException) as error:
            raise Conflict(
                f"prediction log blob {digest} is not readable Parquet ({error}); "
                "the artifact store may be damaged"
            ) from None
