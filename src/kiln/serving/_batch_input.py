"""What batch scoring reads: partitions of Parquet or CSV, streamed a chunk at a time.

An input is cut into :class:`Partition` s, the unit a Ray task scores and a
folder output writes one part file for:

=============================  ===========================================
input                          partitions
=============================  ===========================================
a ``.parquet`` file            one
a folder                       one per ``*.parquet`` file under it (sorted
                               by relative path; names starting with ``.``
                               or ``_`` skipped, as ``kiln.data`` does)
a ``.csv`` / ``.tsv`` file     one (optionally ``.gz``, ``.bz2``, ``.zst``)
a dataset version ``name@v``   one per Parquet blob of the version
=============================  ===========================================

Memory stays bounded by the chunk, not the file: Parquet is read with a
buffered stream and without pre-buffering, so even a file written as one
huge row group is decoded ``chunk_rows`` rows at a time; CSV is read a block
at a time and re-cut into chunks. A partition is a small frozen dataclass
of strings, so it travels to a Ray worker as is and is opened there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from kiln.data._sources import PARQUET_SUFFIXES
from kiln.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from kiln.data import DatasetVersion

__all__ = ["Partition", "partitions_of"]

_CSV_SUFFIXES = tuple(
    suffix + extra for suffix in (".csv", ".tsv") for extra in ("", ".gz", ".bz2", ".zst")
)
#: Bytes Arrow reads per step from a Parquet file (not the whole column chunk at once).
_READ_BUFFER = 256 << 10
_CSV_COLUMN = re.compile(r"CSV column #(\d+)")

PartitionKind = Literal["parquet", "csv", "blob"]


@dataclass(frozen=True, slots=True)
class Partition:
    """One piece of the input: a Parquet file, a CSV file or a dataset version's blob.

    ``location`` is the file's path, or the blob's digest in the artifact
    store at ``artifact_root``; ``name`` is how messages call it; ``rows``
    is known up front for Parquet and ``None`` for CSV.
    """

    kind: PartitionKind
    location: str
    name: str
    rows: int | None = None
    artifact_root: str = ""

    def schema(self, column_types: Mapping[str, pa.DataType] | None = None) -> pa.Schema:
        """The partition's columns and Arrow types (for CSV: as the first block reads them)."""
        if self.kind == "csv":
            with self._csv(None, column_types or {}) as reader:
                return reader.schema
        with self._parquet() as file:
            return file.schema_arrow

    @contextmanager
    def chunks(
        self,
        columns: list[str] | None,
        chunk_rows: int,
        column_types: Mapping[str, pa.DataType] | None = None,
    ) -> Iterator[Iterator[pa.Table]]:
        """Tables of at most ``chunk_rows`` rows of ``columns`` (all when None), in order."""
        import pyarrow as pa

        if self.kind == "csv":
            with self._csv(columns, column_types or {}) as reader:
                yield _rechunk(self._csv_batches(reader), chunk_rows)
            return
        with self._parquet() as file:
            batches = file.iter_batches(batch_size=chunk_rows, columns=columns)
            yield (pa.Table.from_batches([batch]) for batch in batches)

    # -- opening -------------------------------------------------------------------------

    @contextmanager
    def _parquet(self) -> Iterator[pq.ParquetFile]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        with ExitStack() as stack:
            source: str | BinaryIO = self.location
            if self.kind == "blob":
                from kiln.artifacts import ArtifactStore

                store = ArtifactStore.from_location(self.artifact_root)
                source = stack.enter_context(store.open(self.location))
            try:
                file = pq.ParquetFile(source, buffer_size=_READ_BUFFER, pre_buffer=False)
            except (OSError, pa.ArrowException) as error:
                raise InvalidInput(
                    f"cannot read {self.name} as Parquet: {error}", field="input"
                ) from None
            stack.callback(file.close)
            yield file

    @contextmanager
    def _csv(
        self, columns: list[str] | None, column_types: Mapping[str, pa.DataType]
    ) -> Iterator[Any]:
        import pyarrow as pa
        from pyarrow import csv

        delimiter = "\t" if ".tsv" in Path(self.location).name.lower() else ","
        convert = csv.ConvertOptions(
            # Empty fields are missing values, as pandas.read_csv has them.
            strings_can_be_null=True,
            column_types=dict(column_types),
            include_columns=columns or [],
        )
        try:
            reader = csv.open_csv(
                self.location,
                parse_options=csv.ParseOptions(delimiter=delimiter),
                convert_options=convert,
            )
        except (OSError, pa.ArrowException) as error:
            raise self._csv_error(error) from None
        try:
            yield reader
        finally:
            reader.close()

    def _csv_batches(self, reader: Any) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (OSError, pa.ArrowException) as error:
                raise self._csv_error(error) from None
            yield batch

    def _csv_error(self, error: Exception) -> InvalidInput:
        """Arrow's complaint, with the column it numbers named (a value of the wrong type)."""
        match = _CSV_COLUMN.search(str(error))
        column = _csv_header(self.location)[int(match.group(1))] if match else None
        where = f" in column {column!r}" if column else ""
        return InvalidInput(
            f"cannot read {self.name} as CSV{where}: {error}", field=column or "input"
        )


def _csv_header(path: str) -> list[str]:
    """The column names of a CSV file (read from its first block); empty when unreadable."""
    import pyarrow as pa
    from pyarrow import csv

    delimiter = "\t" if ".tsv" in Path(path).name.lower() else ","
    try:
        reader = csv.open_csv(path, parse_options=csv.ParseOptions(delimiter=delimiter))
    except (OSError, pa.ArrowException):
        return []
    names = list(reader.schema.names)
    reader.close()
    return names


def _rechunk(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Record batches of any size re-cut into tables of exactly ``rows`` rows (the last fewer)."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            take = min(rows - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            batch = batch.slice(take)
            count += take
            if count == rows:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
    if count:
        yield pa.Table.from_batches(pending)


def partitions_of(data: str | os.PathLike[str] | DatasetVersion) -> list[Partition]:
    """The partitions of a file, a folder or a dataset version, in order.

    A string names a path when something exists there, else a dataset
    version when it holds an ``@`` (``transactions@3``); ``NotFound`` when it
    is neither.
    """
    from kiln.data import DatasetVersion

    if isinstance(data, DatasetVersion):
        return _dataset_partitions(data)
    path = Path(data)
    if path.is_dir():
        return _folder_partitions(path)
    if path.is_file():
        return [_file_partition(path)]
    if isinstance(data, str) and "@" in data:
        from kiln.data import get_version

        return _dataset_partitions(get_version(data))
    raise NotFound(
        f"no file or folder at {str(path)!r}; give a Parquet or CSV file, a folder of Parquet "
        "files, or a dataset version such as transactions@3",
        field="input",
    )


def _file_partition(path: Path) -> Partition:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return Partition("parquet", str(path), repr(str(path)), _parquet_rows(path))
    if name.endswith(_CSV_SUFFIXES):
        return Partition("csv", str(path), repr(str(path)))
    raise InvalidInput(
        f"cannot tell the format of {str(path)!r} from its name; give a .parquet or .csv file",
        field="input",
    )


def _parquet_rows(path: Path) -> int:
    """The row count in the footer (reading nothing else); ``InvalidInput`` if not Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return int(pq.read_metadata(path).num_rows)
    except (OSError, pa.ArrowException) as error:
        message = f"cannot read {str(path)!r} as Parquet: {error}"
        raise InvalidInput(message, field="input") from None


def _folder_partitions(folder: Path) -> list[Partition]:
    from kiln.data._sources import parquet_files

    return [_file_partition(path) for path in parquet_files(folder, field="input")]


def _dataset_partitions(version: DatasetVersion) -> list[Partition]:
    from kiln.context import get_context

    root = get_context().settings.resolved_artifact_root
    count = len(version.blobs)
    return [
        Partition(
            "blob",
            blob.digest,
            f"{version.uri}" if count == 1 else f"{version.uri} part {index + 1} of {count}",
            blob.rows,
            root,
        )
        for index, blob in enumerate(version.blobs)
    ]
