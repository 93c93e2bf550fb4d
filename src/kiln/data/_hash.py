"""The version id: a SHA-256 of a table's content, not of any file that holds it.

What goes into the hash, in order, each piece framed by its length:

1. a header: the format tag ``kiln-dataset/1``, the row count, and each
   column's name and logical type (:func:`~kiln.data._types.logical_type`);
2. per column, its validity (``V`` when no value is null, else the packed
   null mask) and its values in a canonical layout:

   - fixed-width numbers and times: their little-endian bytes, with null
     slots zeroed and every NaN written as one NaN;
   - booleans: one byte per value, nulls as false;
   - strings and binaries: the lengths (int64) then the concatenated bytes;
   - dictionaries: their decoded values (the dictionary itself is a detail);
   - anything else (lists, structs, decimals, …): the data pages of a
     one-column Parquet file written with fixed, uncompressed settings, which
     encode only non-null values.

Chunking, slicing, row groups, file names, compression, schema metadata (the
pandas block, creation times) and string width (``string`` or
``large_string``) do not change the id; values, order, names and types do.
No Python loop runs over rows: each column is hashed from NumPy/Arrow buffers.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kiln.data._types import logical_type

FORMAT = "kiln-dataset/1"


def content_hash(table: pa.Table) -> str:
    """The hex SHA-256 of ``table``'s content (see the module docstring)."""
    hasher = hashlib.sha256()
    header = {
        "format": FORMAT,
        "num_rows": table.num_rows,
        "columns": [[field.name, logical_type(field.type)] for field in table.schema],
    }
    _frame(hasher, json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode())
    for column in table.columns:
        _hash_column(hasher, column)
    return hasher.hexdigest()


def _frame(hasher: Any, data: Any) -> None:
    view = memoryview(data).cast("B")
    hasher.update(len(view).to_bytes(8, "little"))
    hasher.update(view)


def _hash_column(hasher: Any, column: pa.ChunkedArray) -> None:
    data_type = column.type
    if pa.types.is_dictionary(data_type):
        column = column.cast(data_type.value_type)
        data_type = column.type
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if array.null_count:
        mask = array.is_null().to_numpy(zero_copy_only=False)
        _frame(hasher, np.packbits(mask))
    else:
        _frame(hasher, b"V")
    types = pa.types
    if types.is_boolean(data_type):
        _frame(hasher, _filled(array, False).to_numpy(zero_copy_only=False).astype(np.uint8))
    elif types.is_floating(data_type):
        values = np.ascontiguousarray(_filled(array, 0.0).to_numpy(zero_copy_only=False))
        nan = np.isnan(values)
        if nan.any():
            values = np.where(nan, np.array(np.nan, dtype=values.dtype), values)
        _frame(hasher, values)
    elif _fixed_width_integer_like(data_type):
        storage = pa.int64() if data_type.bit_width == 64 else pa.int32()
        values = array.view(storage) if not types.is_integer(data_type) else array
        filled = _filled(values, 0)
        _frame(hasher, np.ascontiguousarray(filled.to_numpy(zero_copy_only=False)))
    elif _is_stringlike(data_type):
        _hash_binary(hasher, array)
    else:
        _hash_via_parquet(hasher, array)


def _filled(array: pa.Array, value: Any) -> pa.Array:
    return pc.fill_null(array, value) if array.null_count else array


def _fixed_width_integer_like(data_type: pa.DataType) -> bool:
    types = pa.types
    if types.is_integer(data_type):
        return True
    temporal = (
        types.is_timestamp(data_type)
        or types.is_date(data_type)
        or types.is_time(data_type)
        or types.is_duration(data_type)
    )
    return temporal and data_type.bit_width in (32, 64)


def _is_stringlike(data_type: pa.DataType) -> bool:
    types = pa.types
    return (
        types.is_string(data_type)
        or types.is_large_string(data_type)
        or types.is_binary(data_type)
        or types.is_large_binary(data_type)
        or getattr(types, "is_string_view", lambda _: False)(data_type)
        or getattr(types, "is_binary_view", lambda _: False)(data_type)
    )


def _hash_binary(hasher: Any, array: pa.Array) -> None:
    values = _filled(array.cast(pa.large_binary()), b"")
    lengths = pc.binary_length(values).to_numpy(zero_copy_only=False).astype("<i8", copy=False)
    _frame(hasher, np.ascontiguousarray(lengths))
    buffers = values.buffers()
    start = values.offset
    offsets = np.frombuffer(buffers[1], dtype="<i8")[start : start + len(values) + 1]
    data = buffers[2]
    if data is None or len(offsets) == 0:
        _frame(hasher, b"")
    else:
        _frame(hasher, memoryview(data)[int(offsets[0]) : int(offsets[-1])])


def _hash_via_parquet(hasher: Any, array: pa.Array) -> None:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(
        pa.table({"c": array}),
        sink,
        compression="none",
        use_dictionary=False,
        write_statistics=False,
        data_page_version="1.0",
        data_page_size=1 << 20,
        row_group_size=max(len(array), 1),
        store_schema=False,
        write_page_index=False,
        write_page_checksum=False,
    )
    raw = sink.getbuffer()
    # A Parquet file ends with <footer><footer length: 4 bytes>PAR1; the footer
    # names the writer and its version, so only the pages before it are hashed.
    footer = int.from_bytes(raw[-8:-4], "little")
    _frame(hasher, raw[4 : len(raw) - 8 - footer])
