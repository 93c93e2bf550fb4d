"""dtypes: naming them in signatures, and deciding which casts are safe.

A signature dtype is a NumPy name (``float64``, ``int32``, ``bool``,
``datetime64[ns]``), ``string`` (pandas strings, or object columns holding
only strings), ``category``, ``object`` (anything goes) or a pandas extension
name (``Int64``). A cast is safe when NumPy says so, or when it takes
integers or booleans to floats, floats to other floats, or numbers held in
an object column to their own kind; anything else is refused, naming the
column.
"""

from __future__ import annotations

from typing import Any

from kiln.errors import InvalidInput

__all__ = ["CATEGORY", "OBJECT", "STRING", "cast", "cast_target", "dtype_name"]

# dtype names that are not NumPy's: pandas strings, categoricals, anything-goes objects.
STRING, CATEGORY, OBJECT = "string", "category", "object"
# What pandas.api.types.infer_dtype says about object columns, mapped to a NumPy kind.
_INFERRED_KIND = {
    "integer": "i",
    "floating": "f",
    "mixed-integer-float": "f",
    "boolean": "b",
}


def dtype_name(values: Any) -> str:
    """The signature dtype of an array or a pandas column."""
    import numpy as np
    import pandas as pd

    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return CATEGORY
    if isinstance(dtype, pd.StringDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "U"):
        return STRING
    if isinstance(dtype, np.dtype):
        if dtype.kind == "O":
            inferred = pd.api.types.infer_dtype(values, skipna=True)
            # All-missing object columns count as strings: numbers would have been NaN floats.
            return STRING if inferred in ("string", "empty") else OBJECT
        return dtype.name
    return str(dtype)  # pandas' own: Int64, boolean, datetime64[ns, UTC], ...


def cast(values: Any, name: str, expected: str) -> Any:
    """``values`` (an array or a Series) as ``expected``; ``InvalidInput`` names ``name``."""
    target = cast_target(values, name, expected)
    if target is None:
        return values
    try:
        return values.astype(target)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"column {name!r} cannot be read as {expected}: {exc}", field=name
        ) from None


def cast_target(values: Any, name: str, expected: str) -> Any:
    """The dtype to cast ``values`` to (``None``: keep them), or ``InvalidInput``."""
    import pandas as pd

    if expected == OBJECT:
        return None
    got = dtype_name(values)
    if got == expected:
        return None
    if expected in (STRING, CATEGORY):
        raise _dtype_error(name, expected, got)
    try:
        target = pd.api.types.pandas_dtype(expected)
    except TypeError:
        raise _dtype_error(name, expected, got) from None
    if not _castable(got, values, target):
        raise _dtype_error(name, expected, got)
    return target


def _castable(got: str, values: Any, target: Any) -> bool:
    """Whether values of dtype ``got`` may be cast to ``target`` without losing meaning."""
    import numpy as np
    import pandas as pd

    if got in (STRING, CATEGORY):
        return False
    kind, want = "O", getattr(target, "kind", "O")
    source = None
    if got == OBJECT:  # Python numbers in an object column: judged by what they are
        kind = _INFERRED_KIND.get(pd.api.types.infer_dtype(values, skipna=True), "O")
    else:
        source = getattr(values.dtype, "numpy_dtype", values.dtype)  # nullable Int64 → int64
        kind = source.kind if isinstance(source, np.dtype) else "O"
    if kind in "biu" and want == "f":
        return True
    if kind in "fmM":
        return kind == want
    if source is None:
        return kind == want and kind in "biu"
    wanted = getattr(target, "numpy_dtype", target)
    return kind in "biu" and isinstance(wanted, np.dtype) and np.can_cast(source, wanted, "safe")


def _dtype_error(name: str, expected: str, got: str) -> InvalidInput:
    described = "string values" if got == STRING else f"{got} values"
    return InvalidInput(
        f"column {name!r} expects {expected}, got {described}, which cannot be cast safely",
        field=name,
    )
