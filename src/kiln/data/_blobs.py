"""A version's bytes: Parquet blobs in the artifact store, written and read back.

Parquet files handed in are stored unchanged, one blob each; every other
input is written once as Parquet (zstd) into a temporary file and stored as
one blob. Reading concatenates the blobs in order.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from kiln.artifacts import ArtifactStore
from kiln.data._entities import StoredBlob
from kiln.data._sources import Prepared
from kiln.errors import Conflict

#: Rows per Parquet row group of the files Kiln writes.
ROW_GROUP_SIZE = 256 * 1024


def store(artifacts: ArtifactStore, prepared: Prepared) -> tuple[StoredBlob, ...]:
    """Put the prepared data in the artifact store; the blobs in row order."""
    if prepared.files:
        blobs = []
        for path, rows, relative in prepared.files:
            blob = artifacts.put_file(path)
            blobs.append(StoredBlob(blob.digest, blob.size, rows, relative))
        return tuple(blobs)
    with tempfile.TemporaryDirectory(prefix="kiln-data-") as folder:
        path = Path(folder) / "data.parquet"
        pq.write_table(prepared.table, path, compression="zstd", row_group_size=ROW_GROUP_SIZE)
        blob = artifacts.put_file(path)
    return (StoredBlob(blob.digest, blob.size, prepared.table.num_rows),)


def read(artifacts: ArtifactStore, blobs: tuple[StoredBlob, ...], what: str) -> pa.Table:
    """The table the blobs hold, concatenated in order."""
    tables = []
    for blob in blobs:
        with artifacts.open(blob.digest) as file:
            try:
                tables.append(pq.read_table(file))
            except (OSError, pa.ArrowException) as error:
                raise Conflict(
                    f"blob {blob.digest} of {what} is not readable Parquet ({error}); "
                    "the artifact store may be damaged"
                ) from None
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables)
