"""Where a feature view's rows come from; each source reads them as one Arrow table.

Files (Parquet, a folder of Parquet files, CSV), a stored Kiln dataset
version, a SQL query run by DuckDB (over files, say) or by PostgreSQL, or
rows pushed through the API (``PushSource``).
``to_dict`` is the canonical form ``apply`` versions. A source reads all its
rows; materialization and retrieval filter them by time.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "SOURCES",
    "CsvSource",
    "DatasetSource",
    "DuckDBSource",
    "ParquetSource",
    "PostgresSource",
    "PushSource",
    "Source",
    "arrow_of",
    "source_from_dict",
]


class Source(ABC):
    """Rows of a feature view."""

    kind: str

    @abstractmethod
    def read(self) -> pa.Table:
        """Every row, as Arrow."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The canonical description (what a change of source compares)."""


def arrow_of(frame: Any) -> pa.Table:
    """A pandas DataFrame as Arrow, without its index or pandas metadata."""
    from kiln.data._sources import from_pandas  # the one pandas → Arrow conversion

    table: pa.Table = from_pandas(frame.reset_index(drop=True))
    return table.replace_schema_metadata(None)


def _path(path: str | os.PathLike[str]) -> Path:
    found = Path(path).expanduser()
    if not found.exists():
        raise NotFound(f"feature source {str(path)!r} does not exist")
    return found


@dataclass(frozen=True, slots=True)
class ParquetSource(Source):
    """A Parquet file, or a folder of them (read as one table)."""

    path: str
    kind = "parquet"

    def read(self) -> pa.Table:
        import pyarrow.parquet as pq

        return pq.read_table(_path(self.path))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path}


@dataclass(frozen=True, slots=True)
class CsvSource(Source):
    """A CSV file with a header row; ``timestamps`` lists the columns to read as UTC times."""

    path: str
    timestamps: tuple[str, ...] = ("event_timestamp",)
    kind = "csv"

    def read(self) -> pa.Table:
        import pyarrow as pa
        import pyarrow.csv as csv

        options = csv.ConvertOptions(
            column_types={name: pa.timestamp("us", tz="UTC") for name in self.timestamps}
        )
        try:
            return csv.read_csv(_path(self.path), convert_options=options)
        except pa.ArrowInvalid as error:
            raise InvalidInput(
                f"feature source {self.path!r} cannot be read as CSV: {error}", field="source"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "timestamps": list(self.timestamps)}


@dataclass(frozen=True, slots=True)
class DatasetSource(Source):
    """A Kiln dataset version (``name@3``; ``name@latest`` follows new versions)."""

    ref: str
    kind = "dataset"

    def read(self) -> pa.Table:
        from kiln.data import load

        return arrow_of(load(self.ref))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "ref": self.ref}


@dataclass(frozen=True, slots=True)
class DuckDBSource(Source):
    """A query DuckDB runs (``SELECT * FROM 'events/*.parquet' WHERE …``)."""

    query: str
    kind = "duckdb"

    def read(self) -> pa.Table:
        import duckdb

        connection = duckdb.connect()
        try:
            connection.execute("SET TimeZone = 'UTC'")
            table: pa.Table = connection.sql(self.query).to_arrow_table()
        except duckdb.Error as error:
            raise InvalidInput(
                f"the DuckDB query of a feature source failed: {error}", field="source"
            ) from None
        finally:
            connection.close()
        return table

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "query": self.query}


@dataclass(frozen=True, slots=True)
class PostgresSource(Source):
    """A query PostgreSQL runs at ``url`` (``postgresql://user@host/db``)."""

    query: str
    url: str
    kind = "postgresql"

    def read(self) -> pa.Table:
        import pyarrow as pa
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import DBAPIError

        from kiln.db._engine import normalize_url

        engine = create_engine(normalize_url(self.url))
        try:
            with engine.connect() as connection:
                result = connection.execute(text(self.query))
                columns = list(result.keys())
                rows = result.fetchall()
        except DBAPIError as error:
            raise InvalidInput(
                f"the PostgreSQL query of a feature source failed: {error.orig}", field="source"
            ) from None
        finally:
            engine.dispose()
        return pa.table({name: [row[i] for row in rows] for i, name in enumerate(columns)})

    def to_dict(self) -> dict[str, Any]:
        from kiln.db._engine import normalize_url

        return {
            "kind": self.kind,
            "query": self.query,
            "url": normalize_url(self.url).render_as_string(hide_password=True),
        }


@dataclass(frozen=True, slots=True)
class PushSource(Source):
    """Rows pushed through ``kiln.features.push``, kept as Parquet files in the folder ``path``.

    Pushed rows reach the online store at once and are appended here, the
    offline log, so training sees them too; ``batch_source`` adds older
    history read from elsewhere. With nothing pushed yet and no batch
    source it reads as no rows.
    """

    path: str
    batch_source: Source | None = None
    kind = "push"

    def read(self) -> pa.Table:
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = [self.batch_source.read()] if self.batch_source is not None else []
        folder = Path(self.path).expanduser()
        if folder.is_dir() and any(folder.glob("*.parquet")):
            tables.append(pq.read_table(folder))
        if not tables:
            return pa.table({})
        if len(tables) == 1:
            return tables[0]
        return pa.concat_tables(
            [t.replace_schema_metadata(None) for t in tables], promote_options="permissive"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "batch_source": None if self.batch_source is None else self.batch_source.to_dict(),
        }


#: Each source class by its ``kind`` (what ``to_dict`` writes).
SOURCES: dict[str, type[Source]] = {
    cls.kind: cls
    for cls in (ParquetSource, CsvSource, DatasetSource, DuckDBSource, PostgresSource, PushSource)
}


def source_from_dict(data: dict[str, Any]) -> Source:
    """The source ``to_dict`` described (a PostgreSQL URL comes back without its password)."""
    spec = dict(data)
    kind = spec.pop("kind", None)
    cls = SOURCES.get(str(kind))
    if cls is None:
        raise InvalidInput(
            f"unknown feature source kind {kind!r}; known: {', '.join(SOURCES)}", field="source"
        )
    if cls is CsvSource and "timestamps" in spec:
        spec["timestamps"] = tuple(spec["timestamps"])
    if cls is PushSource and spec.get("batch_source") is not None:
        spec["batch_source"] = source_from_dict(spec["batch_source"])
    try:
        return cls(**spec)
    except TypeError as error:
        raise InvalidInput(f"a {kind} source cannot be made from {data!r}: {error}") from None
