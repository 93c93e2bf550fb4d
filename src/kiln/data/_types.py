"""How Kiln names and groups Arrow types: logical names, comparable names and column kinds.

The logical name ignores physical variants that hold the same values
(``string``/``large_string``/``string_view``, ``binary`` and its variants,
``list``/``large_list``, a dictionary's index width), so the version id and
type checks do not change when only the in-memory layout does.
"""

from __future__ import annotations

import pyarrow as pa

NUMERIC = "numeric"
CATEGORICAL = "categorical"
BOOLEAN = "boolean"
TEMPORAL = "temporal"
OTHER = "other"


def logical_type(data_type: pa.DataType) -> str:
    """The type's name with physical variants folded together (``large_string`` → ``string``)."""
    types = pa.types
    if types.is_dictionary(data_type):
        ordered = ", ordered" if data_type.ordered else ""
        return f"dictionary<{logical_type(data_type.value_type)}{ordered}>"
    if types.is_string(data_type) or types.is_large_string(data_type):
        return "string"
    if types.is_binary(data_type) or types.is_large_binary(data_type):
        return "binary"
    if _is_view(data_type, "string_view"):
        return "string"
    if _is_view(data_type, "binary_view"):
        return "binary"
    if types.is_list(data_type) or types.is_large_list(data_type):
        return f"list<{logical_type(data_type.value_type)}>"
    return str(data_type)


def comparable_type(data_type: pa.DataType) -> str:
    """What type checks compare: the logical name, with dictionaries as their values' type.

    A categorical column that arrives as plain strings holds the same values,
    so it passes; ``int64`` becoming ``double`` does not.
    """
    if pa.types.is_dictionary(data_type):
        return comparable_type(data_type.value_type)
    return logical_type(data_type)


def comparable_name(type_name: str) -> str:
    """:func:`comparable_type` for a stored type name: ``dictionary<string>`` → ``string``."""
    if type_name.startswith("dictionary<") and type_name.endswith(">"):
        inner = type_name[len("dictionary<") : -1].removesuffix(", ordered")
        return comparable_name(inner)
    return type_name


def column_kind(data_type: pa.DataType) -> str:
    """What a profile holds for the type: numeric, categorical, boolean, temporal or other."""
    types = pa.types
    if types.is_dictionary(data_type):
        return CATEGORICAL
    if types.is_integer(data_type) or types.is_floating(data_type) or types.is_decimal(data_type):
        return NUMERIC
    if types.is_boolean(data_type):
        return BOOLEAN
    if types.is_string(data_type) or types.is_large_string(data_type):
        return CATEGORICAL
    if _is_view(data_type, "string_view"):
        return CATEGORICAL
    if (
        types.is_timestamp(data_type)
        or types.is_date(data_type)
        or types.is_time(data_type)
        or types.is_duration(data_type)
    ):
        return TEMPORAL
    return OTHER


def _is_view(data_type: pa.DataType, name: str) -> bool:
    check = getattr(pa.types, f"is_{name}", None)
    return bool(check is not None and check(data_type))
