"""Signatures: inference from examples, and enforcement with errors that name the column."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from kiln.errors import InvalidInput
from kiln.models import ColumnSpec, Signature, infer_signature


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": np.array([1.5, 2.5, 3.5]),
            "count": np.array([1, 2, 3], dtype=np.int64),
            "city": ["oslo", "rome", "lima"],
            "flag": [True, False, True],
        }
    )


def test_infers_columns_from_a_dataframe(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame, np.array([0, 1, 0]))

    assert signature.kind == "dataframe"
    assert signature.inputs == (
        ColumnSpec("amount", "float64", (-1,)),
        ColumnSpec("count", "int64", (-1,)),
        ColumnSpec("city", "string", (-1,)),
        ColumnSpec("flag", "bool", (-1,)),
    )
    assert signature.outputs == (ColumnSpec("output", "int64", (-1,)),)


def test_infers_a_tensor_from_an_array() -> None:
    signature = infer_signature(np.zeros((4, 3, 2), dtype=np.float32), np.zeros((4, 5)))

    assert signature.kind == "ndarray"
    assert signature.inputs == (ColumnSpec("input", "float32", (-1, 3, 2)),)
    assert signature.outputs == (ColumnSpec("output", "float64", (-1, 5)),)


def test_infers_named_arrays_from_a_dict() -> None:
    signature = infer_signature({"ids": np.arange(4), "image": np.zeros((4, 8, 8))})

    assert signature.kind == "dict"
    assert signature.inputs == (
        ColumnSpec("ids", "int64", (-1,)),
        ColumnSpec("image", "float64", (-1, 8, 8)),
    )
    assert signature.outputs == ()


def test_object_columns_of_strings_are_strings_and_mixed_ones_objects() -> None:
    frame = pd.DataFrame(
        {"s": pd.Series(["a", "b"], dtype=object), "m": pd.Series([1, "x"], dtype=object)}
    )

    signature = infer_signature(frame)

    assert [spec.dtype for spec in signature.inputs] == ["string", "object"]


def test_output_series_and_frames_keep_their_names(frame: pd.DataFrame) -> None:
    series = infer_signature(frame, pd.Series([1.0, 2.0, 3.0], name="score"))
    table = infer_signature(frame, pd.DataFrame({"low": [1.0], "high": [2.0]}))

    assert series.outputs == (ColumnSpec("score", "float64", (-1,)),)
    assert [spec.name for spec in table.outputs] == ["low", "high"]


def test_refuses_non_string_column_names_and_scalars() -> None:
    with pytest.raises(InvalidInput, match="column names must be strings"):
        infer_signature(pd.DataFrame(np.zeros((2, 2))))
    with pytest.raises(InvalidInput, match="batch dimension"):
        infer_signature(3.0)


def test_round_trips_through_a_dict(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame, np.zeros(3))

    assert Signature.from_dict(signature.to_dict()) == signature


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "table", "inputs": [{"name": "a", "dtype": "float64"}]},
        {"kind": "dataframe", "inputs": []},
        {"kind": "dataframe", "inputs": [{"name": "a"}]},
        {"kind": "dataframe", "inputs": [{"name": "a", "dtype": "float64", "shape": ["x"]}]},
        {"kind": "ndarray", "inputs": [{"name": "a", "dtype": "f4"}, {"name": "b", "dtype": "f4"}]},
    ],
)
def test_malformed_signatures_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        Signature.from_dict(bad)


# --- enforcement ---------------------------------------------------------------------------


def test_a_matching_frame_passes_through_unchanged(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)

    assert signature.enforce(frame) is frame


def test_columns_are_reordered_and_extra_columns_dropped(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)
    shuffled = frame[["flag", "city", "count", "amount"]].assign(extra=1)

    result = signature.enforce(shuffled)

    assert list(result.columns) == ["amount", "count", "city", "flag"]
    pd.testing.assert_frame_equal(result, frame)


def test_extra_columns_can_be_refused(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)

    with pytest.raises(InvalidInput, match="unexpected column 'extra'") as caught:
        signature.enforce(frame.assign(extra=1), extra_columns="refuse")
    assert caught.value.field == "extra"


def test_a_missing_column_is_named(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)

    with pytest.raises(InvalidInput, match="column 'city' is missing") as caught:
        signature.enforce(frame.drop(columns="city"))
    assert caught.value.field == "city"


def test_strings_cannot_go_into_a_float_column(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)

    with pytest.raises(InvalidInput, match="'amount' expects float64, got string") as caught:
        signature.enforce(frame.assign(amount=["1", "2", "3"]))
    assert caught.value.field == "amount"


def test_floats_cannot_go_into_an_integer_column(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)

    with pytest.raises(InvalidInput, match="'count' expects int64, got float64") as caught:
        signature.enforce(frame.assign(count=[1.5, 2.0, 3.0]))
    assert caught.value.field == "count"


def test_integers_are_upcast_to_float(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)

    result = signature.enforce(frame.assign(amount=np.array([1, 2, 3], dtype=np.int32)))

    assert result["amount"].dtype == np.float64
    assert result["amount"].tolist() == [1.0, 2.0, 3.0]


def test_narrow_integers_are_widened_but_not_narrowed() -> None:
    signature = Signature((ColumnSpec("n", "int64"),))

    widened = signature.enforce(pd.DataFrame({"n": np.array([1, 2], dtype=np.int8)}))
    assert widened["n"].dtype == np.int64
    with pytest.raises(InvalidInput, match="'n' expects int32"):
        Signature((ColumnSpec("n", "int32"),)).enforce(pd.DataFrame({"n": np.arange(2)}))


def test_numbers_in_object_columns_are_cast() -> None:
    signature = Signature((ColumnSpec("x", "float64"),))

    result = signature.enforce(pd.DataFrame({"x": pd.Series([1, 2.5], dtype=object)}))

    assert result["x"].dtype == np.float64


def test_missing_values_cannot_go_into_integers() -> None:
    signature = Signature((ColumnSpec("n", "int64"),))

    with pytest.raises(InvalidInput, match="'n'") as caught:
        signature.enforce(pd.DataFrame({"n": pd.array([1, None], dtype="Int64")}))
    assert caught.value.field == "n"


def test_numbers_cannot_go_into_a_string_column(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)

    with pytest.raises(InvalidInput, match="'city' expects string") as caught:
        signature.enforce(frame.assign(city=[1, 2, 3]))
    assert caught.value.field == "city"


def test_dicts_records_and_arrays_become_frames(frame: pd.DataFrame) -> None:
    numeric = frame[["amount", "count"]]
    signature = infer_signature(numeric)

    from_dict = signature.enforce({"amount": [1.0, 2.0], "count": [1, 2]})
    from_records = signature.enforce([{"amount": 1.0, "count": 1}])
    from_array = signature.enforce(np.array([[1.0, 2], [3.0, 4]], dtype=object))

    assert list(from_dict.columns) == ["amount", "count"]
    assert len(from_records) == 1
    assert from_array["amount"].tolist() == [1.0, 3.0]
    with pytest.raises(InvalidInput, match="float64 values") as caught:
        signature.enforce(np.array([[1.0, 2.5]]))  # count is int64; 2.5 cannot be cast
    assert caught.value.field == "count"


def test_an_array_of_the_wrong_width_is_refused_for_named_columns(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame[["amount", "count"]])

    with pytest.raises(InvalidInput, match=r"shape \(rows, 2\)"):
        signature.enforce(np.zeros((3, 5)))
    with pytest.raises(InvalidInput, match="cannot be read as a table"):
        signature.enforce({"amount": 1.0, "count": 2})


def test_array_shapes_are_enforced() -> None:
    signature = infer_signature(np.zeros((2, 4), dtype=np.float32))

    assert signature.enforce(np.ones((7, 4), dtype=np.float32)).shape == (7, 4)
    with pytest.raises(InvalidInput, match=r"must have shape \(rows, 4\), got \(7, 3\)") as caught:
        signature.enforce(np.ones((7, 3), dtype=np.float32))
    assert caught.value.field == "input"
    with pytest.raises(InvalidInput, match=r"reshape\(1, -1\)"):
        signature.enforce(np.ones(4, dtype=np.float32))


def test_arrays_are_cast_safely_or_refused() -> None:
    signature = infer_signature(np.zeros((2, 2), dtype=np.float32))

    assert signature.enforce(np.ones((1, 2), dtype=np.int16)).dtype == np.float32
    assert signature.enforce(np.ones((1, 2))).dtype == np.float32  # float to float
    with pytest.raises(InvalidInput, match="expects float32, got string"):
        signature.enforce(np.array([["a", "b"]]))


def test_a_dataframe_is_accepted_for_an_array_signature() -> None:
    signature = infer_signature(np.zeros((2, 2)))

    result = signature.enforce(pd.DataFrame({"a": [1.0], "b": [2.0]}))

    assert isinstance(result, np.ndarray)
    assert result.tolist() == [[1.0, 2.0]]


def test_dict_signatures_check_each_array() -> None:
    signature = infer_signature({"ids": np.arange(2), "image": np.zeros((2, 3, 3))})

    ok = signature.enforce({"ids": [5], "image": np.zeros((1, 3, 3)), "extra": 1})
    assert set(ok) == {"ids", "image"}
    with pytest.raises(InvalidInput, match="'image' is missing") as missing:
        signature.enforce({"ids": [1]})
    assert missing.value.field == "image"
    with pytest.raises(InvalidInput, match="'image' must have shape") as shaped:
        signature.enforce({"ids": [1], "image": np.zeros((1, 3, 4))})
    assert shaped.value.field == "image"
    with pytest.raises(InvalidInput, match="unexpected input 'extra'"):
        signature.enforce(
            {"ids": [1], "image": np.zeros((1, 3, 3)), "extra": 1}, extra_columns="refuse"
        )


def test_enforcement_is_cheap_on_a_thousand_rows() -> None:
    frame = pd.DataFrame(
        np.random.default_rng(0).random((1000, 20)), columns=[f"f{i}" for i in range(20)]
    )
    signature = infer_signature(frame)
    upcast = frame.astype(np.float32)
    started = time.perf_counter()
    for _ in range(100):
        signature.enforce(upcast)
    per_call = (time.perf_counter() - started) / 100

    print(f"enforce 1,000 x 20 with casts: {per_call * 1e3:.3f} ms")
    assert per_call < 0.05
