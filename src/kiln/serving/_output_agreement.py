"""Whether two logged model outputs are the same prediction, for many pairs at once.

The prediction log keeps each answer's outputs as JSON text. Comparing a
primary's answers with a shadow's means comparing those texts as values —
lists of the same lengths, numbers within a tolerance — without a Python
loop over rows: identical text first, then Arrow's JSON reader on the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["RELATIVE_TOLERANCE", "outputs_agree"]

#: Relative tolerance under which two float outputs are the same prediction.
RELATIVE_TOLERANCE = 1e-9


def outputs_agree(left: pa.Array | pa.ChunkedArray, right: pa.Array | pa.ChunkedArray) -> Any:
    """For each row, whether two logged outputs (JSON text) are the same prediction.

    Identical text agrees at once. The rest are parsed together by Arrow's
    JSON reader and compared structure by structure: the same keys, lists of
    the same lengths, equal text and booleans, numbers within
    ``RELATIVE_TOLERANCE`` of each other (null, a logged NaN, equals null).
    Outputs whose values change type between rows (a number here, text
    there) cannot share one Arrow schema; then only identical text agrees.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    left = _array(left)
    right = _array(right)
    agreed = np.asarray(pc.equal(left, right).to_numpy(zero_copy_only=False), dtype=bool)
    todo = np.flatnonzero(~agreed)
    if not len(todo):
        return agreed
    parsed = _parse_json(pa.concat_arrays([left.take(todo), right.take(todo)]))
    if parsed is None:
        return agreed
    size = len(todo)
    first = np.arange(size)
    same = np.ones(size, dtype=bool)
    for name in parsed.column_names:
        column = parsed[name].combine_chunks()
        same &= _same(column.take(first), column.take(first + size))
    agreed[todo] = same
    return agreed


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    import pyarrow as pa

    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _parse_json(texts: pa.Array) -> pa.Table | None:
    """Newline-delimited JSON of ``texts`` as one table (one block, so one inferred schema)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    lines = pc.binary_join_element_wise(texts, pa.scalar(""), "\n")
    offsets = lines.buffers()[1]
    assert offsets is not None
    bounds = np.frombuffer(offsets, dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    data = lines.buffers()[2]
    assert data is not None
    body = data[int(bounds[0]) : int(bounds[-1])]
    options = pj.ReadOptions(block_size=max(len(body) + 1, 1 << 16))
    try:
        return pj.read_json(pa.BufferReader(body), read_options=options)
    except pa.ArrowInvalid:
        return None


def _same(left: pa.Array, right: pa.Array) -> Any:
    """Row by row, whether ``left`` and ``right`` (of one type) hold equal values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = np.arange(len(left))
    same = np.ones(len(left), dtype=bool)
    while pa.types.is_list(left.type) or pa.types.is_large_list(left.type):
        lengths_l = pc.fill_null(pc.list_value_length(left), -1).to_numpy()
        lengths_r = pc.fill_null(pc.list_value_length(right), -1).to_numpy()
        equal = lengths_l == lengths_r
        same[rows[~equal]] = False
        keep = pa.array(equal)
        left, right, rows = left.filter(keep), right.filter(keep), rows[equal]
        parents = pc.list_parent_indices(left).to_numpy()
        left, right, rows = pc.list_flatten(left), pc.list_flatten(right), rows[parents]
    nulls_l = left.is_null().to_numpy(zero_copy_only=False)
    nulls_r = right.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_struct(left.type):
        equal = nulls_l == nulls_r
        for sub_l, sub_r in zip(left.flatten(), right.flatten(), strict=True):
            equal &= _same(sub_l, sub_r) | (nulls_l & nulls_r)
    elif pa.types.is_integer(left.type) or pa.types.is_floating(left.type):
        a = pc.cast(left, pa.float64()).to_numpy(zero_copy_only=False)
        b = pc.cast(right, pa.float64()).to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            close = np.abs(a - b) <= RELATIVE_TOLERANCE * np.maximum(np.abs(a), np.abs(b))
        equal = (a == b) | close | (np.isnan(a) & np.isnan(b))
    elif pa.types.is_null(left.type):
        equal = np.ones(len(left), dtype=bool)
    else:
        values = pc.fill_null(pc.equal(left, right), False).to_numpy(zero_copy_only=False)
        equal = np.asarray(values, dtype=bool) | (nulls_l & nulls_r)
    same[rows[~equal]] = False
    return same
