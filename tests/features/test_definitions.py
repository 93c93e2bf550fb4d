"""Feature definitions check themselves when made; sources read real files and databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiln.context import Context
from kiln.errors import InvalidInput, NotFound
from kiln.features._definitions import Entity, FeatureService, FeatureView, Field
from kiln.features._sources import (
    CsvSource,
    DatasetSource,
    DuckDBSource,
    ParquetSource,
    PostgresSource,
)

CUSTOMER = Entity("customer", {"customer_id": "int64"}, owner="risk-team")
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def rows() -> pa.Table:
    return pa.table(
        {
            "customer_id": pa.array([1, 2], pa.int64()),
            "event_timestamp": pa.array([WHEN, WHEN], pa.timestamp("us", tz="UTC")),
            "spend_7d": [10.5, 3.0],
            "segment": ["gold", "basic"],
        }
    )


def view(path: str = "unused.parquet", **changes: object) -> FeatureView:
    options: dict[str, object] = {
        "name": "customer_stats",
        "entities": [CUSTOMER],
        "source": ParquetSource(path),
        "features": [Field("spend_7d", "float64"), Field("segment", "string")],
        "ttl": timedelta(days=2),
        "owner": "risk-team",
        "tags": {"team": "risk"},
    }
    options.update(changes)
    return FeatureView(**options)  # type: ignore[arg-type]


def test_equal_definitions_have_equal_canonical_forms() -> None:
    assert view().to_dict() == view().to_dict()
    assert view().to_dict() != view(ttl=timedelta(days=3)).to_dict()
    assert view().join_keys == {"customer_id": "int64"}
    assert view().to_dict()["ttl_seconds"] == 172_800
    service = FeatureService("fraud", [view(), "merchant_stats:risk"])
    assert service.references() == [
        "customer_stats:spend_7d",
        "customer_stats:segment",
        "merchant_stats:risk",
    ]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Entity("customer", {}), "needs join keys with their types"),
        (lambda: Entity("customer", {"id": "uuid"}), "unknown type 'uuid'"),
        (lambda: Entity("bad name", {"id": "int64"}), "entity name 'bad name' is not valid"),
        (lambda: view(name="a__b"), "double underscore"),
        (lambda: view(features=[]), "needs at least one Field"),
        (lambda: view(entities=[]), "needs at least one Entity"),
        (
            lambda: view(features=[Field("x", "int64"), Field("x", "float64")]),
            "declares x more than once",
        ),
        (lambda: view(features=[Field("customer_id", "int64")]), "customer_id is a join key"),
        (lambda: view(ttl=timedelta(hours=-1)), "ttl must be a non-negative"),
        (lambda: FeatureService("fraud", ["no-colon"]), "neither a feature view nor"),
        (lambda: FeatureService("fraud", []), "needs features"),
    ],
)
def test_a_bad_definition_is_refused_where_it_is_written(
    make: Callable[[], object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        make()


def test_a_source_lacking_a_column_or_holding_another_type_names_both(tmp_path: Path) -> None:
    declared = view()
    declared.check_columns(rows().schema)
    with pytest.raises(InvalidInput, match=r"no column 'spend_7d' \(expected float64\)"):
        declared.check_columns(rows().drop_columns(["spend_7d"]).schema)
    wrong = rows().set_column(2, "spend_7d", pa.array(["10.5", "3"]))
    with pytest.raises(
        InvalidInput,
        match="feature view 'customer_stats': column 'spend_7d' should hold float64, "
        "its source holds string",
    ):
        declared.check_columns(wrong.schema)


def test_parquet_files_folders_and_csv_are_read(tmp_path: Path) -> None:
    pq.write_table(rows(), tmp_path / "one.parquet")
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(rows().slice(0, 1), folder / "a.parquet")
    pq.write_table(rows().slice(1, 1), folder / "b.parquet")
    (tmp_path / "rows.csv").write_text(
        "customer_id,event_timestamp,spend_7d,segment\n1,2026-01-01T00:00:00Z,10.5,gold\n"
    )

    assert ParquetSource(str(tmp_path / "one.parquet")).read().num_rows == 2
    assert sorted(ParquetSource(str(folder)).read().column("customer_id").to_pylist()) == [1, 2]
    read = CsvSource(str(tmp_path / "rows.csv")).read()
    view().check_columns(read.schema)
    assert read.column("event_timestamp").to_pylist() == [WHEN]
    with pytest.raises(NotFound, match="does not exist"):
        ParquetSource(str(tmp_path / "missing.parquet")).read()


def test_a_duckdb_query_over_files_is_a_source(tmp_path: Path) -> None:
    pq.write_table(rows(), tmp_path / "one.parquet")
    source = DuckDBSource(f"SELECT * FROM '{tmp_path / 'one.parquet'}' WHERE spend_7d > 5")

    read = source.read()

    assert read.column("customer_id").to_pylist() == [1]
    view().check_columns(read.schema)
    with pytest.raises(InvalidInput, match="DuckDB query of a feature source failed"):
        DuckDBSource("SELECT * FROM no_such_table").read()


def test_a_dataset_version_is_a_source(make_context: Callable[..., Context]) -> None:
    import kiln
    import kiln.data

    kiln.configure(make_context().settings)
    version = kiln.data.register_dataset(rows(), "customer-stats")

    read = DatasetSource(version.uri).read()

    assert read.column("segment").to_pylist() == ["gold", "basic"]


@pytest.mark.postgres
def test_a_postgres_query_is_a_source(postgres_url: str) -> None:
    from sqlalchemy import create_engine, text

    from kiln.db._engine import normalize_url

    engine = create_engine(normalize_url(postgres_url))
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE stats (customer_id bigint, event_timestamp timestamptz, "
                "spend_7d double precision, segment text)"
            )
        )
        connection.execute(
            text("INSERT INTO stats VALUES (1, '2026-01-01T00:00:00Z', 10.5, 'gold')")
        )
    engine.dispose()

    read = PostgresSource("SELECT * FROM stats", postgres_url).read()

    view().check_columns(read.schema)
    assert read.column("spend_7d").to_pylist() == [10.5]
    assert "password" not in str(PostgresSource("SELECT 1", postgres_url).to_dict())
    with pytest.raises(InvalidInput, match="PostgreSQL query of a feature source failed"):
        PostgresSource("SELECT * FROM missing", postgres_url).read()
