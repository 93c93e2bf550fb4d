"""The comparisons behind shadow agreement, and the lengths of time the stats take.
(The stats over a real prediction log are tested through HTTP in
tests/server/test_deployments_api.py.)"""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest

from kiln.errors import InvalidInput
from kiln.serving._deployment_stats import parse_duration
from kiln.serving._output_agreement import outputs_agree


@pytest.mark.parametrize(
    ("primary", "shadow", "agree"),
    [
        ('{"p":[1,0]}', '{"p":[1,0]}', True),
        ('{"p":[0.3]}', '{"p":[0.30000000000001]}', True),  # within 1e-9 relative
        ('{"p":[0.3]}', '{"p":[0.3001]}', False),
        ('{"p":[1]}', '{"p":[1.0]}', True),  # an int and its float are one number
        ('{"p":[1e-300]}', '{"p":[0.0]}', False),  # relative, not absolute
        ('{"p":[null]}', '{"p":[null]}', True),  # NaN is logged as null
        ('{"p":[null]}', '{"p":[0.0]}', False),
        ('{"p":[1,2]}', '{"p":[1]}', False),
        ('{"p":[[0.1,0.9],[0.5,0.5]]}', '{"p":[[0.1,0.9],[0.5,0.5000000000001]]}', True),
        ('{"p":[[0.1,0.9],[0.5]]}', '{"p":[[0.1],[0.9,0.5]]}', False),  # same leaves, not shape
        ('{"a":[1],"b":["x"]}', '{"a":[1],"b":["y"]}', False),
        ('{"a":[1],"b":["x"]}', '{"b":["x"],"a":[1]}', True),  # key order is no difference
        ('{"a":[1]}', '{"a":[1],"b":[2]}', False),
        ('{"p":[true]}', '{"p":[false]}', False),
    ],
)
def test_outputs_agree_by_structure_and_tolerance(primary: str, shadow: str, agree: bool) -> None:
    assert outputs_agree(pa.array([primary]), pa.array([shadow])).tolist() == [agree]
    # Among other rows of its shape, with identical and different ones.
    left = pa.array([primary, primary, primary])
    right = pa.array([primary, shadow, shadow])
    assert outputs_agree(left, right).tolist() == [True, agree, agree]


def test_values_changing_type_between_rows_fall_back_to_text() -> None:
    left = pa.array(['{"p":[1]}', '{"p":["a"]}', '{"p":[2]}'])
    right = pa.array(['{"p":[1.0]}', '{"p":["b"]}', '{"p":[2]}'])
    # The rows to parse give p no one type, so only identical text agrees: 1 and 1.0 do not.
    assert outputs_agree(left, right).tolist() == [False, False, True]


def test_many_rows_in_chunks() -> None:
    left = pa.chunked_array([['{"p":[0.5]}'] * 3, ['{"p":[0.25]}'] * 2])
    right = pa.chunked_array([['{"p":[0.5]}', '{"p":[0.6]}'], ['{"p":[0.5]}'] * 3])
    assert outputs_agree(left, right).tolist() == [True, False, True, False, False]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), (90, 90), ("90s", 90), ("5m", 300), ("5min", 300), ("1.5h", 5400), ("7d", 604800)],
)
def test_parse_duration(text: str | int, seconds: int) -> None:
    assert parse_duration(text, field="since") == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "soon", "-1h", "0", "2y", "1h30m", "400d", True])
def test_parse_duration_refuses_what_is_no_length(text: str | bool) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_duration(text, field="bucket")  # type: ignore[arg-type]
    assert refused.value.field == "bucket"
