"""Signatures: the names, dtypes and shapes a model takes and returns.

A :class:`Signature` is inferred from an input example (and optionally an
output example) by :func:`infer_signature`, stored in the manifest, and
enforced by :meth:`Signature.enforce` before every prediction. Enforcement
works column by column with NumPy and pandas (never row by row), so it stays
cheap on the serving path.

Three kinds of input, after what the example was:

- ``dataframe``: named columns, each 1-D (``shape: [-1]``); a DataFrame, a
  dict of columns, a list of records or a 2-D array (by position) is accepted.
- ``ndarray``: one unnamed array, spec ``input`` (``shape: [-1, 20]``); a
  DataFrame with the right number of columns is accepted and converted.
- ``dict``: named arrays of any shape, passed on as a dict of arrays.

Casting rules: the same dtype passes; any safe NumPy cast, integers and
booleans to floats, and floats to other floats are cast; anything else
(strings into numbers, floats into integers, missing values into integers)
is refused with :class:`~kiln.errors.InvalidInput` whose ``field`` is the
column's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from kiln.errors import InvalidInput
from kiln.models._dtypes import cast, cast_target, dtype_name

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["ColumnSpec", "ExtraColumns", "Signature", "SignatureKind", "infer_signature"]

SignatureKind = Literal["dataframe", "ndarray", "dict"]
ExtraColumns = Literal["drop", "refuse"]
_KINDS = ("dataframe", "ndarray", "dict")
_ARRAY_NAME = "input"
_OUTPUT_NAME = "output"


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One named input or output: a DataFrame column or an array.

    ``dtype`` is a NumPy dtype name (``float64``, ``int32``, ``bool``,
    ``datetime64[ns]``) or ``string``, ``category`` or ``object``. ``shape``
    uses ``-1`` for a size that may vary (the batch); a column is ``(-1,)``.
    """

    name: str
    dtype: str
    shape: tuple[int, ...] = (-1,)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, data: Any) -> ColumnSpec:
        if not isinstance(data, dict):
            raise InvalidInput(f"signature: a column spec must be a mapping, got {data!r}")
        name, dtype, shape = data.get("name"), data.get("dtype"), data.get("shape", [-1])
        if not isinstance(name, str) or not isinstance(dtype, str):
            raise InvalidInput(f"signature: a column spec needs a name and a dtype, got {data!r}")
        if not isinstance(shape, list) or not all(
            isinstance(size, int) and not isinstance(size, bool) and size >= -1 for size in shape
        ):
            raise InvalidInput(f"signature: column {name!r} has a bad shape {shape!r}", field=name)
        return cls(name, dtype, tuple(shape))


@dataclass(frozen=True, slots=True)
class Signature:
    """What a model takes (``inputs``) and returns (``outputs``), and in which form (``kind``)."""

    inputs: tuple[ColumnSpec, ...]
    outputs: tuple[ColumnSpec, ...] = ()
    kind: SignatureKind = "dataframe"

    @property
    def input_names(self) -> list[str]:
        return [spec.name for spec in self.inputs]

    def enforce(self, data: Any, *, extra_columns: ExtraColumns = "drop") -> Any:
        """``data`` checked and cast to this signature, in the form the model was given.

        Returns a DataFrame (columns in signature order), an ndarray or a dict
        of ndarrays, after ``kind``. Columns the signature does not name are
        dropped, or refused with ``extra_columns="refuse"`` (what the model
        server does). Raises :class:`~kiln.errors.InvalidInput` naming the
        column (``field``) for a missing column, a dtype that cannot be cast
        safely, or a wrong shape.
        """
        if extra_columns not in ("drop", "refuse"):
            raise InvalidInput(f"extra_columns must be 'drop' or 'refuse', got {extra_columns!r}")
        if self.kind == "dataframe":
            return self._enforce_frame(data, extra_columns)
        if self.kind == "ndarray":
            return _enforce_array(data, self.inputs[0])
        return self._enforce_dict(data, extra_columns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "inputs": [spec.to_dict() for spec in self.inputs],
            "outputs": [spec.to_dict() for spec in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Signature:
        if not isinstance(data, dict):
            raise InvalidInput("signature must be a mapping with kind, inputs and outputs")
        kind = data.get("kind", "dataframe")
        if kind not in _KINDS:
            raise InvalidInput(f"signature kind must be one of {', '.join(_KINDS)}, got {kind!r}")
        inputs, outputs = data.get("inputs"), data.get("outputs", [])
        if not isinstance(inputs, list) or not inputs or not isinstance(outputs, list):
            raise InvalidInput("signature: 'inputs' must be a non-empty list, 'outputs' a list")
        if kind == "ndarray" and len(inputs) != 1:
            raise InvalidInput("signature: an ndarray signature has exactly one input")
        return cls(
            inputs=tuple(ColumnSpec.from_dict(spec) for spec in inputs),
            outputs=tuple(ColumnSpec.from_dict(spec) for spec in outputs),
            kind=kind,
        )

    def _enforce_frame(self, data: Any, extra_columns: ExtraColumns) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        names = self.input_names
        if isinstance(data, np.ndarray):
            if data.ndim != 2 or data.shape[1] != len(names):
                raise InvalidInput(
                    f"an array given to a model with {len(names)} named columns must have shape "
                    f"(rows, {len(names)}), got {data.shape}; or send a DataFrame with columns "
                    f"{', '.join(names)}",
                    field=_ARRAY_NAME,
                )
            data = pd.DataFrame(data, columns=names, copy=False)
        elif isinstance(data, pd.Series):
            data = data.to_frame()
        elif not isinstance(data, pd.DataFrame):
            data = _to_frame(data)
        frame: pd.DataFrame = data
        # One dtype lookup for all columns; a column is only fetched when it needs a look.
        dtypes = dict(zip(frame.columns, frame.dtypes, strict=True))
        if len(dtypes) != len(frame.columns):
            twice = frame.columns[frame.columns.duplicated()][0]
            raise InvalidInput(f"column {twice!r} appears more than once", field=str(twice))
        for name in names:
            if name not in dtypes:
                raise InvalidInput(
                    f"column {name!r} is missing; the model expects columns {', '.join(names)}",
                    field=name,
                )
        if extra_columns == "refuse" and len(dtypes) > len(names):
            extra = sorted(str(column) for column in set(dtypes).difference(names))
            raise InvalidInput(
                f"unexpected column {extra[0]!r}; the model takes only {', '.join(names)}",
                field=extra[0],
            )
        targets: dict[str, Any] = {}
        for spec in self.inputs:
            dtype = dtypes[spec.name]
            if isinstance(dtype, np.dtype) and dtype.kind not in "OU" and dtype.name == spec.dtype:
                continue
            target = cast_target(frame[spec.name], spec.name, spec.dtype)
            if target is not None:
                targets[spec.name] = target
        if not targets and len(dtypes) == len(names) and list(dtypes) == names:
            return frame
        selected = frame if list(dtypes) == names else frame[names]
        if not targets:
            return selected
        distinct = set(targets.values())
        try:
            if len(targets) == len(names) and len(distinct) == 1:
                return selected.astype(distinct.pop())  # one block cast: much faster
            return selected.astype(targets)
        except (TypeError, ValueError):  # find the column to name in the error
            for name, target in targets.items():
                cast(frame[name], name, str(target))
            raise

    def _enforce_dict(self, data: Any, extra_columns: ExtraColumns) -> dict[str, Any]:
        import numpy as np
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            data = {str(name): data[name].to_numpy() for name in data.columns}
        if not isinstance(data, Mapping):
            raise InvalidInput(
                f"the model takes a dict of arrays named {', '.join(self.input_names)}, "
                f"got {type(data).__name__}"
            )
        if extra_columns == "refuse":
            for key in data:
                if key not in self.input_names:
                    raise InvalidInput(f"unexpected input {key!r}", field=str(key))
        result: dict[str, Any] = {}
        for spec in self.inputs:
            if spec.name not in data:
                raise InvalidInput(
                    f"input {spec.name!r} is missing; the model expects "
                    f"{', '.join(self.input_names)}",
                    field=spec.name,
                )
            result[spec.name] = _enforce_array(np.asarray(data[spec.name]), spec)
        return result


def infer_signature(model_input: Any, model_output: Any = None) -> Signature:
    """The signature of an input example (a DataFrame, a dict of arrays or an array).

    With ``model_output`` (what the model returned for that input), the
    outputs are recorded too. Column names must be strings.
    """
    import numpy as np
    import pandas as pd

    if isinstance(model_input, pd.Series):
        model_input = model_input.to_frame()
    if isinstance(model_input, pd.DataFrame):
        kind: SignatureKind = "dataframe"
        inputs = _frame_specs(model_input, "input example")
    elif isinstance(model_input, Mapping):
        kind = "dict"
        inputs = _dict_specs(model_input, "input example")
    else:
        kind = "ndarray"
        inputs = (_array_spec(_as_array(model_input, "input example"), _ARRAY_NAME),)
    outputs: tuple[ColumnSpec, ...] = ()
    if model_output is not None:
        if isinstance(model_output, pd.Series):
            name = model_output.name if isinstance(model_output.name, str) else _OUTPUT_NAME
            outputs = (ColumnSpec(name, dtype_name(model_output), (-1,)),)
        elif isinstance(model_output, pd.DataFrame):
            outputs = _frame_specs(model_output, "output example")
        elif isinstance(model_output, Mapping):
            outputs = _dict_specs(model_output, "output example")
        else:
            array = np.asarray(model_output)
            if array.ndim >= 1:
                outputs = (_array_spec(array, _OUTPUT_NAME),)
    return Signature(inputs=inputs, outputs=outputs, kind=kind)


def _frame_specs(frame: pd.DataFrame, what: str) -> tuple[ColumnSpec, ...]:
    specs = []
    for name in frame.columns:
        if not isinstance(name, str):
            raise InvalidInput(
                f"{what} column names must be strings, got {name!r}; rename the columns",
                field=str(name),
            )
        specs.append(ColumnSpec(name, dtype_name(frame[name]), (-1,)))
    if not specs:
        raise InvalidInput(f"{what} has no columns")
    return tuple(specs)


def _dict_specs(data: Mapping[Any, Any], what: str) -> tuple[ColumnSpec, ...]:
    specs = []
    for name, value in data.items():
        if not isinstance(name, str):
            raise InvalidInput(f"{what} keys must be strings, got {name!r}", field=str(name))
        specs.append(_array_spec(_as_array(value, f"{what} {name!r}"), name))
    if not specs:
        raise InvalidInput(f"{what} is an empty dict")
    return tuple(specs)


def _as_array(value: Any, what: str) -> np.ndarray[Any, Any]:
    import numpy as np

    array = np.asarray(value)
    if array.ndim == 0:
        raise InvalidInput(
            f"{what} must be a DataFrame, a dict of arrays or an array with a batch "
            f"dimension, got {type(value).__name__}"
        )
    return array


def _array_spec(array: np.ndarray[Any, Any], name: str) -> ColumnSpec:
    return ColumnSpec(name, dtype_name(array), (-1, *array.shape[1:]))


def _enforce_array(data: Any, spec: ColumnSpec) -> np.ndarray[Any, Any]:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame | pd.Series):
        data = data.to_numpy()
    elif not isinstance(data, np.ndarray):
        try:
            data = np.asarray(data)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{spec.name!r} is not an array: {exc}", field=spec.name) from None
    expected = spec.shape
    if data.ndim != len(expected) or any(
        size not in (-1, actual) for size, actual in zip(expected, data.shape, strict=True)
    ):
        wanted = "(" + ", ".join("rows" if size == -1 else str(size) for size in expected) + ")"
        hint = "; for one row use array.reshape(1, -1)" if data.ndim == len(expected) - 1 else ""
        raise InvalidInput(
            f"{spec.name!r} must have shape {wanted}, got {tuple(data.shape)}{hint}",
            field=spec.name,
        )
    result: np.ndarray[Any, Any] = cast(data, spec.name, spec.dtype)
    return result


def _to_frame(data: Any) -> pd.DataFrame:
    import pandas as pd

    if isinstance(data, Mapping | list):
        try:
            return pd.DataFrame(data)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"the input cannot be read as a table: {exc}") from None
    raise InvalidInput(
        f"the model takes a DataFrame, a dict of columns or a 2-D array, got {type(data).__name__}"
    )
