"""Tabular input as named 1-D columns, and new rows built back in the caller's form.

The explainers shuffle, gather and mix the values of columns; they never do
arithmetic on inputs, so any column type works (numbers, text, categories).
A :class:`Table` remembers what the caller passed — a DataFrame (and its
dtypes, so categories survive), a mapping of column → array, or a 2-D array
with names — because the model's ``predict`` expects rows in that form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from kiln.errors import InvalidInput

__all__ = ["FloatArray", "Table", "as_table", "model_output"]

FloatArray = npt.NDArray[np.float64]
Kind = Literal["frame", "mapping", "array"]


@dataclass(frozen=True)
class Table:
    """Columns of equal length, named ``names``; ``labels`` are the caller's own keys."""

    names: tuple[str, ...]
    columns: tuple[np.ndarray[Any, Any], ...]
    kind: Kind
    labels: tuple[Any, ...]
    dtypes: tuple[Any, ...] = ()
    array_dtype: Any = None
    n_rows: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "n_rows", len(self.columns[0]))

    def take(self, index: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
        """Every column at the row positions ``index`` (any shape; flattened)."""
        flat = np.asarray(index).ravel()
        return [column[flat] for column in self.columns]

    def build(self, columns: Sequence[np.ndarray[Any, Any]]) -> Any:
        """Rows in the form this table came in, from one array per column."""
        if self.kind == "mapping":
            return dict(zip(self.labels, columns, strict=True))
        if self.kind == "array":
            out = np.empty((len(columns[0]), len(columns)), dtype=self.array_dtype)
            for j, column in enumerate(columns):
                out[:, j] = column
            return out
        import pandas as pd

        data = {}
        for label, column, dtype in zip(self.labels, columns, self.dtypes, strict=True):
            same = isinstance(dtype, np.dtype) and column.dtype == dtype
            data[label] = column if same else pd.Series(column, copy=False).astype(dtype)
        return pd.DataFrame(data, copy=False)

    def aligned(self, other: Table, what: str) -> Table:
        """``other``'s columns in this table's order; ``InvalidInput`` naming a missing one."""
        if other.names == self.names:
            return other
        position = {name: j for j, name in enumerate(other.names)}
        missing = [name for name in self.names if name not in position]
        if missing:
            raise InvalidInput(
                f"{what} has no column {missing[0]!r}; give it the same columns as the rows "
                f"({', '.join(self.names)})",
                field=what,
            )
        order = [position[name] for name in self.names]
        return Table(
            self.names,
            tuple(other.columns[j] for j in order),
            self.kind,
            self.labels,
            self.dtypes,
            self.array_dtype,
        )


def as_table(data: Any, *, columns: Sequence[str] | None = None, what: str = "X") -> Table:
    """``data`` (a DataFrame, a mapping of column → 1-D values, or a 2-D array) as a Table.

    ``columns`` names a 2-D array's columns (default ``x0``, ``x1``, …);
    named data carries its own names, so ``columns`` is refused there.
    """
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        _no_columns(columns, what)
        return _from_frame(data, what)
    if isinstance(data, Mapping):
        _no_columns(columns, what)
        return _from_mapping(data, what)
    if isinstance(data, pd.Series):
        raise InvalidInput(
            f"{what} is a Series; pass a DataFrame (series.to_frame()) or a 2-D array", field=what
        )
    try:
        array = np.asarray(data)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} cannot be read as a table: {exc}", field=what) from None
    if array.ndim != 2:
        raise InvalidInput(
            f"{what} must be a DataFrame, a mapping of column → values or a 2-D array "
            f"(rows by features); got an array of shape {array.shape}",
            field=what,
        )
    names = _array_names(array.shape[1], columns, what)
    cols = tuple(array[:, j] for j in range(array.shape[1]))
    return _checked(Table(names, cols, "array", names, (), array.dtype), what)


def _no_columns(columns: Sequence[str] | None, what: str) -> None:
    if columns is not None:
        raise InvalidInput(
            f"columns names the columns of a 2-D array; {what} already names its own, "
            "so leave columns out",
            field="columns",
        )


def _array_names(width: int, columns: Sequence[str] | None, what: str) -> tuple[str, ...]:
    if columns is None:
        return tuple(f"x{j}" for j in range(width))
    if isinstance(columns, str) or len(columns) != width:
        raise InvalidInput(
            f"columns must be a list of {width} names, one per column of {what}", field="columns"
        )
    names = tuple(str(name) for name in columns)
    if len(set(names)) != len(names):
        raise InvalidInput(f"columns holds a name twice: {list(names)}", field="columns")
    return names


def _from_frame(frame: Any, what: str) -> Table:
    labels = tuple(frame.columns)
    names = tuple(str(label) for label in labels)
    if len(set(names)) != len(names):
        raise InvalidInput(f"{what} has two columns named alike: {list(names)}", field=what)
    cols = tuple(frame[label].to_numpy() for label in labels)
    dtypes = tuple(frame.dtypes)
    return _checked(Table(names, cols, "frame", labels, dtypes), what)


def _from_mapping(data: Mapping[Any, Any], what: str) -> Table:
    labels = tuple(data)
    names = tuple(str(label) for label in labels)
    cols = []
    for label, name in zip(labels, names, strict=True):
        column = np.asarray(data[label])
        if column.ndim != 1:
            raise InvalidInput(
                f"{what}[{name!r}] has shape {column.shape}; explanations need one value per "
                "feature and row (1-D columns)",
                field=name,
            )
        cols.append(column)
    return _checked(Table(names, tuple(cols), "mapping", labels), what)


def _checked(table: Table, what: str) -> Table:
    if not table.names:
        raise InvalidInput(f"{what} has no columns", field=what)
    lengths = {len(column) for column in table.columns}
    if len(lengths) > 1:
        raise InvalidInput(f"the columns of {what} differ in length", field=what)
    if table.n_rows == 0:
        raise InvalidInput(f"{what} has no rows", field=what)
    return table


def model_output(result: Any, rows: int, what: str = "the model") -> FloatArray:
    """A model's answer as floats of shape (rows,) or (rows, outputs)."""
    import pandas as pd

    if isinstance(result, pd.DataFrame | pd.Series):
        result = result.to_numpy()
    array = np.asarray(result)
    if array.dtype.kind not in "biuf":
        raise InvalidInput(
            f"{what} returned {array.dtype} values, which cannot be explained as numbers; "
            "explain its probabilities (predict_proba) or scores instead",
            field="model",
        )
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim not in (1, 2) or array.shape[0] != rows:
        raise InvalidInput(
            f"{what} returned shape {array.shape} for {rows} rows; it must return one value "
            "(or one row of outputs) per row",
            field="model",
        )
    return array.astype(np.float64, copy=False)
