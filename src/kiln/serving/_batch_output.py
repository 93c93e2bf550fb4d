"""Where batch scoring writes: one Parquet file or a folder of part files, never half of either.

An output path ending in ``.parquet`` (or ``.pq``, ``.parq``) is one file;
anything else is a folder holding ``part-00000.parquet``, … one per input
partition. Either is written under a hidden temporary name beside the
target and renamed into place once every row is written, so a crash or a
refused chunk leaves the target as it was (a file that existed is replaced
only then; a folder must be absent or empty). The target's folder must
exist: a typo in it is reported before the model is even loaded.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.data._sources import PARQUET_SUFFIXES
from kiln.errors import AlreadyExists, Conflict, InvalidInput, NotFound

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

__all__ = ["OutputTarget", "TableWriter", "part_name", "staged", "target_of"]


@dataclass(frozen=True, slots=True)
class OutputTarget:
    """The path to write and whether it is one file (else a folder of parts)."""

    path: Path
    single_file: bool


def target_of(output: str | os.PathLike[str]) -> OutputTarget:
    """The output, checked before any work: its folder exists, it can be written in place."""
    path = Path(output)
    single = path.name.lower().endswith(PARQUET_SUFFIXES)
    parent = path.absolute().parent
    if not parent.is_dir():
        raise NotFound(
            f"the folder {str(parent)!r} of the output {str(path)!r} does not exist; create it "
            "first (nothing was scored)",
            field="output",
        )
    if single and path.is_dir():
        raise InvalidInput(
            f"the output {str(path)!r} is a folder, but its name says one Parquet file; "
            "give another file name, or a folder name without .parquet",
            field="output",
        )
    if not single and path.exists():
        if not path.is_dir():
            raise InvalidInput(
                f"the output {str(path)!r} is a file; name a folder for part files, or a "
                ".parquet file for one file",
                field="output",
            )
        if any(path.iterdir()):
            raise AlreadyExists(
                f"the output folder {str(path)!r} is not empty; remove it or give another",
                field="output",
            )
    return OutputTarget(path, single)


def part_name(index: int) -> str:
    """The file name of partition ``index``'s part in a folder output."""
    return f"part-{index:05d}.parquet"


@contextmanager
def staged(target: OutputTarget) -> Iterator[Path]:
    """A temporary file or folder beside ``target``, renamed onto it when the block succeeds."""
    path = target.path
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    if not target.single_file:
        temporary.mkdir()
    try:
        yield temporary
        if not target.single_file and path.is_dir():
            path.rmdir()  # empty, as target_of found it
        os.replace(temporary, path)
    except BaseException:
        if temporary.is_dir():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            temporary.unlink(missing_ok=True)
        raise


class TableWriter:
    """Appends tables to one Parquet file; the first fixes the schema the rest are cast to.

    Each table becomes (at least) one row group, so a reader can stream the
    output back a chunk at a time as well.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        elif not table.schema.equals(self._writer.schema, check_metadata=False):
            try:
                table = table.cast(self._writer.schema)
            except (pa.ArrowException, ValueError) as error:
                raise Conflict(
                    f"a chunk's output columns do not match the first chunk's ({error}); "
                    "the model's outputs changed type between chunks"
                ) from None
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self, empty_schema: pa.Schema | None = None) -> None:
        """Finish the file; one that got no rows gets ``empty_schema`` and no row group."""
        import pyarrow.parquet as pq

        if self._writer is None:
            if empty_schema is None:
                raise Conflict(f"nothing was written to {str(self.path)!r} and no schema given")
            self._writer = pq.ParquetWriter(self.path, empty_schema, compression="zstd")
        self._writer.close()

    def abort(self) -> None:
        """Release the file after a failure (the staging area is removed by ``staged``)."""
        if self._writer is not None:
            self._writer.close()
