"""Plain domain objects of ``kiln.data``: datasets, versions, their fields and blobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Field:
    """One column of a version's schema: its name, Arrow type and nullability."""

    name: str
    type: str
    nullable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "nullable": self.nullable}


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """One Parquet blob of a version in the artifact store, with the rows it holds.

    ``path`` is the file's path inside the registered folder (or its file name)
    for Parquet input stored as is, and ``""`` for a file Kiln wrote.
    """

    digest: str
    size: int
    rows: int
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "size": self.size, "rows": self.rows, "path": self.path}


@dataclass(frozen=True, slots=True)
class Dataset:
    """A named dataset of a project; its data lives in numbered, immutable versions."""

    name: str
    project: str
    description: str
    created_at: datetime
    updated_at: datetime
    #: The highest version number (None: no version yet).
    latest_version: int | None


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """One immutable version of a dataset.

    ``version_id`` is the SHA-256 of the content (see docs/data.md, "The
    version id"): the same rows and columns give the same id however they were
    chunked, stored or timestamped. ``version`` is the dataset's running number
    (1, 2, 3, …), so ``name@3``, ``name@latest`` and ``name@<id prefix>`` all
    name versions.
    """

    name: str
    version: int
    version_id: str
    schema: tuple[Field, ...]
    num_rows: int
    num_bytes: int
    source_type: str
    source: str
    blobs: tuple[StoredBlob, ...]
    created_at: datetime
    created_by: str

    @property
    def uri(self) -> str:
        """``name@version``, accepted by :func:`kiln.data.load` and friends."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, as the CLI's ``--json`` and the REST API show it."""
        return {
            "name": self.name,
            "version": self.version,
            "version_id": self.version_id,
            "uri": self.uri,
            "schema": [field.to_dict() for field in self.schema],
            "num_rows": self.num_rows,
            "num_columns": self.num_columns,
            "num_bytes": self.num_bytes,
            "source_type": self.source_type,
            "source": self.source,
            "blobs": [blob.to_dict() for blob in self.blobs],
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
        }

    @property
    def num_columns(self) -> int:
        return len(self.schema)

    @property
    def columns(self) -> list[str]:
        return [field.name for field in self.schema]
