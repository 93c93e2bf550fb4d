"""The version id: a hash of the content, blind to layout, metadata and physical variants."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiln.data._hash import content_hash
from kiln.data._sources import from_pandas
from tests.data.conftest import make_frame


@pytest.fixture
def table() -> pa.Table:
    frame = make_frame(3_000)
    frame.loc[[3, 70], "amount"] = np.nan
    frame["tags"] = [["a", "b"] if i % 3 else None for i in range(len(frame))]
    frame["price"] = pd.array([i if i % 7 else None for i in range(len(frame))], dtype="Int32")
    frame["channel_cat"] = frame["channel"].astype("category")
    return from_pandas(frame)


def through_parquet(table: pa.Table, **options: object) -> pa.Table:
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)  # type: ignore[arg-type]
    sink.seek(0)
    return pq.read_table(sink)


def test_layout_and_metadata_do_not_change_the_hash(table: pa.Table) -> None:
    digest = content_hash(table)

    assert len(digest) == 64
    assert content_hash(table.combine_chunks()) == digest
    assert content_hash(pa.concat_tables([table.slice(0, 1000), table.slice(1000)])) == digest
    assert content_hash(through_parquet(table, row_group_size=123, compression="gzip")) == digest
    assert content_hash(through_parquet(table, use_dictionary=False)) == digest
    assert content_hash(table.replace_schema_metadata({"created": "yesterday"})) == digest


def test_string_width_and_dictionary_index_width_do_not_change_the_hash() -> None:
    small = pa.table({"s": pa.array(["a", None, "ccc"], pa.string())})
    large = pa.table({"s": pa.array(["a", None, "ccc"], pa.large_string())})
    narrow = pa.table({"d": pa.array(["x", "y", "x"]).dictionary_encode()})
    wide = pa.table(
        {
            "d": pa.array(["x", "y", "x"])
            .dictionary_encode()
            .cast(pa.dictionary(pa.int64(), pa.string()))
        }
    )
    # A dictionary whose entries are ordered differently still holds the same values.
    shuffled = pa.table({"d": pa.DictionaryArray.from_arrays([1, 0, 1], ["y", "x"])})

    assert content_hash(small) == content_hash(large)
    assert content_hash(narrow) == content_hash(wide) == content_hash(shuffled)


def test_what_hides_under_a_null_does_not_count() -> None:
    values = np.array([1, 99, 3], dtype=np.int64)
    other = np.array([1, -5, 3], dtype=np.int64)
    mask = pa.py_buffer(np.packbits([1, 0, 1], bitorder="little"))
    first = pa.Array.from_buffers(pa.int64(), 3, [mask, pa.py_buffer(values)], null_count=1)
    second = pa.Array.from_buffers(pa.int64(), 3, [mask, pa.py_buffer(other)], null_count=1)

    assert content_hash(pa.table({"x": first})) == content_hash(pa.table({"x": second}))
    assert content_hash(pa.table({"x": first})) == content_hash(pa.table({"x": [1, None, 3]}))


def test_every_nan_is_the_same_nan() -> None:
    quiet = np.array([1.0, np.nan])
    payload = quiet.copy()
    payload.view(np.uint64)[1] |= 1  # another NaN bit pattern
    assert np.isnan(payload[1])

    assert content_hash(pa.table({"x": quiet})) == content_hash(pa.table({"x": payload}))


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.set_column(1, "amount", pa.array(np.r_[[0.5], t["amount"].to_numpy()[1:]])),
        lambda t: t.rename_columns(["ID", *t.column_names[1:]]),
        lambda t: t.select([1, 0, *range(2, t.num_columns)]),
        lambda t: t.slice(1),
        lambda t: pa.concat_tables([t.slice(1, 1), t.slice(0, 1), t.slice(2)]),
        lambda t: t.set_column(0, "id", t["id"].cast(pa.int32())),
        lambda t: t.set_column(
            t.column_names.index("tags"),
            "tags",
            pa.array([["a", "c"], *t["tags"].to_pylist()[1:]]),
        ),
        lambda t: t.set_column(
            t.column_names.index("channel_cat"), "channel_cat", t["channel_cat"].cast(pa.string())
        ),
    ],
    ids=["value", "name", "order", "rows", "row-order", "type", "nested", "categorical"],
)
def test_content_changes_change_the_hash(table: pa.Table, change: object) -> None:
    changed = change(table)  # type: ignore[operator]

    assert content_hash(changed) != content_hash(table)


def test_nulls_and_empty_strings_differ() -> None:
    assert content_hash(pa.table({"s": ["", "a"]})) != content_hash(pa.table({"s": [None, "a"]}))
    assert content_hash(pa.table({"s": ["ab", "c"]})) != content_hash(pa.table({"s": ["a", "bc"]}))


def test_an_empty_table_has_a_hash() -> None:
    empty = pa.table({"a": pa.array([], pa.int64())})

    assert content_hash(empty) != content_hash(pa.table({"b": pa.array([], pa.int64())}))
