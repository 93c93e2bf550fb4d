"""Turn what users register into one Arrow table, remembering where it came from.

Accepted: a pandas DataFrame, a polars DataFrame (when polars is installed),
an Arrow table or record batch, and a path to a Parquet file, a CSV file
(``.csv``, ``.tsv``, optionally ``.gz``/``.bz2``/``.zst``) or a folder of
Parquet files. Files that cannot be read raise ``InvalidInput`` naming the
file. Parquet files are kept as they are (``files``), so the artifact store
gets their bytes unchanged; everything else is written once as Parquet.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from kiln.errors import InvalidInput

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_CSV_SUFFIXES = (".csv", ".tsv")
_COMPRESSED = ("", ".gz", ".bz2", ".zst")

ACCEPTED = (
    "a pandas or polars DataFrame, a pyarrow Table or RecordBatch, or the path of a "
    "Parquet file, a CSV file or a folder of Parquet files"
)

_SILENCING = threading.Lock()


@dataclass(frozen=True)
class Prepared:
    """A table to register, the kind of input it came from, and a description of the source."""

    table: pa.Table
    source_type: str
    source: str
    #: Parquet files to store unchanged, with their row counts and relative paths (else empty).
    files: tuple[tuple[Path, int, str], ...] = ()


def prepare(data: Any, *, source: str | None = None) -> Prepared:
    """Read ``data`` (see the module docstring) into a :class:`Prepared`."""
    if isinstance(data, pa.Table):
        return Prepared(data, "arrow", source or "pyarrow.Table")
    if isinstance(data, pa.RecordBatch):
        return Prepared(pa.Table.from_batches([data]), "arrow", source or "pyarrow.RecordBatch")
    if isinstance(data, str | os.PathLike):
        return _from_path(Path(data).expanduser(), source)
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and hasattr(data, "columns"):
        return Prepared(from_pandas(data), "pandas", source or "pandas.DataFrame")
    if module == "polars" and hasattr(data, "to_arrow"):
        if hasattr(data, "collect"):  # a LazyFrame
            data = data.collect()
        return Prepared(data.to_arrow(), "polars", source or "polars.DataFrame")
    raise InvalidInput(
        f"cannot register a {type(data).__module__}.{type(data).__name__}; pass {ACCEPTED}",
        field="data",
    )


def from_pandas(frame: Any) -> pa.Table:
    """An Arrow table from a pandas DataFrame, its index kept as pandas metadata or a column."""
    import pandas as pd

    try:
        if not any(isinstance(dtype, pd.DatetimeTZDtype) for dtype in frame.dtypes):
            return pa.Table.from_pandas(frame)
        # pyarrow reads tz-aware columns through Series.values, which pandas 3.1
        # deprecates (the conversion keeps the zone). Warning filters are
        # process-wide, so Kiln's own conversions take turns silencing it.
        with _SILENCING, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
            return pa.Table.from_pandas(frame)
    except (ValueError, TypeError, pa.ArrowNotImplementedError) as error:
        raise InvalidInput(
            f"the DataFrame cannot be stored as Parquet: {error}; give each column one type "
            "(e.g. df[col].astype(str)) and every column a distinct name",
            field="data",
        ) from None


def _from_path(path: Path, source: str | None) -> Prepared:
    if path.is_dir():
        return _from_folder(path, source)
    if not path.is_file():
        raise InvalidInput(f"no file or folder at {str(path)!r}; check the path", field="data")
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        table = read_parquet_file(path)
        where = str(path.resolve())
        return Prepared(table, "parquet", source or where, ((path, table.num_rows, path.name),))
    if any(name.endswith(suffix + extra) for suffix in _CSV_SUFFIXES for extra in _COMPRESSED):
        return Prepared(_read_csv(path), "csv", source or str(path.resolve()))
    raise InvalidInput(
        f"cannot tell the format of {str(path)!r} from its name; use a .parquet or .csv file, "
        "or read it into a DataFrame first",
        field="data",
    )


def read_parquet_file(path: Path) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise InvalidInput(f"cannot read {str(path)!r} as Parquet: {error}", field="data") from None


def _read_csv(path: Path) -> pa.Table:
    from pyarrow import csv

    delimiter = "\t" if ".tsv" in path.name.lower() else ","
    try:
        return csv.read_csv(
            path,
            parse_options=csv.ParseOptions(delimiter=delimiter),
            # Empty fields are missing values, as pandas.read_csv has them.
            convert_options=csv.ConvertOptions(strings_can_be_null=True),
        )
    except (OSError, pa.ArrowException) as error:
        raise InvalidInput(f"cannot read {str(path)!r} as CSV: {error}", field="data") from None


def parquet_files(folder: Path, *, field: str = "data") -> list[Path]:
    """The Parquet files below ``folder`` in path order, hidden and ``_``-prefixed ones skipped.

    Those are the files Spark, pandas and DuckDB write beside their data
    (``_SUCCESS``, ``.crc``). ``InvalidInput`` naming ``field`` when there is none.
    """
    files = sorted(
        (
            path
            for path in folder.rglob("*")
            if path.is_file()
            and path.name.lower().endswith(PARQUET_SUFFIXES)
            and not any(part.startswith((".", "_")) for part in path.relative_to(folder).parts)
        ),
        key=lambda path: path.relative_to(folder).as_posix(),
    )
    if not files:
        raise InvalidInput(
            f"the folder {str(folder)!r} holds no .parquet files (hidden files and names "
            "starting with '_' are skipped)",
            field=field,
        )
    return files


def _from_folder(folder: Path, source: str | None) -> Prepared:
    files = parquet_files(folder)
    tables = [read_parquet_file(path) for path in files]
    first = tables[0].schema
    for path, table in zip(files, tables, strict=True):
        if not table.schema.equals(first, check_metadata=False):
            raise InvalidInput(
                f"{str(path)!r} does not have the schema of {str(files[0])!r}: "
                f"{_schema_difference(first, table.schema)}; every file of a folder must "
                "have the same columns and types",
                field="data",
            )
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    stored = tuple(
        (path, part.num_rows, path.relative_to(folder).as_posix())
        for path, part in zip(files, tables, strict=True)
    )
    return Prepared(table, "parquet_folder", source or str(folder.resolve()), stored)


def _schema_difference(expected: pa.Schema, actual: pa.Schema) -> str:
    want = {field.name: str(field.type) for field in expected}
    got = {field.name: str(field.type) for field in actual}
    missing = [name for name in want if name not in got]
    extra = [name for name in got if name not in want]
    changed = [f"{n}: {want[n]} → {got[n]}" for n in want if n in got and want[n] != got[n]]
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if extra:
        parts.append(f"extra {', '.join(extra)}")
    if changed:
        parts.append(f"types {'; '.join(changed)}")
    return ", ".join(parts) or "different column order"
