"""Registering dataset versions from every kind of input, loading them back, and bad input."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

import kiln.data
from kiln.context import Context
from kiln.data._sources import from_pandas
from kiln.db.tables import DatasetVersionRow, VersionedDatasetRow
from kiln.errors import Conflict, InvalidInput, NotFound
from tests.data.conftest import make_frame


def version_rows(context: Context) -> int:
    return context.db.read(lambda s: s.scalar(select(func.count()).select_from(DatasetVersionRow)))


class TestRegister:
    def test_a_dataframe_round_trips_exactly(self, store: Context, frame: pd.DataFrame) -> None:
        version = kiln.data.register_dataset(frame, "transactions", description="card payments")

        assert version.version == 1
        assert version.uri == "transactions@1"
        assert len(version.version_id) == 64
        assert version.num_rows == len(frame)
        assert version.columns == list(frame.columns)
        assert version.source_type == "pandas"
        assert version.num_bytes == sum(blob.size for blob in version.blobs) > 0
        assert store.artifacts.exists(version.blobs[0].digest)
        pd.testing.assert_frame_equal(kiln.data.load("transactions@1"), frame)
        dataset = kiln.data.get_dataset("transactions")
        assert (dataset.description, dataset.latest_version) == ("card payments", 1)

    def test_same_content_gives_the_same_version_and_no_new_row(
        self, store: Context, frame: pd.DataFrame
    ) -> None:
        first = kiln.data.register_dataset(frame, "transactions")
        as_arrow = from_pandas(frame).combine_chunks()
        again = kiln.data.register_dataset(as_arrow.to_batches(max_chunksize=333)[0], "other")
        second = kiln.data.register_dataset(frame.copy(), "transactions")
        from_arrow = kiln.data.register_dataset(from_pandas(frame), "transactions")

        assert second == first
        assert from_arrow == first
        assert again.version_id != first.version_id  # only the first 333 rows
        assert version_rows(store) == 2
        assert [v.version for v in kiln.data.list_versions("transactions")] == [1]

    def test_new_content_gets_the_next_number_and_every_ref_form_loads_it(
        self, store: Context
    ) -> None:
        one = kiln.data.register_dataset(make_frame(seed=1), "transactions")
        two = kiln.data.register_dataset(make_frame(seed=2), "transactions")

        assert (one.version, two.version) == (1, 2)
        assert one.version_id != two.version_id
        for ref in ("transactions", "transactions@latest", "transactions@2", two):
            pd.testing.assert_frame_equal(kiln.data.load(ref), make_frame(seed=2))
        prefix = f"transactions@{one.version_id[:10]}"
        pd.testing.assert_frame_equal(kiln.data.load(prefix), make_frame(seed=1))
        assert kiln.data.get_version(prefix) == one
        assert [v.version for v in kiln.data.list_versions("transactions")] == [2, 1]
        assert kiln.data.load("transactions@1", as_="arrow").num_rows == one.num_rows

    def test_re_registering_older_content_returns_the_older_version(self, store: Context) -> None:
        kiln.data.register_dataset(make_frame(seed=1), "transactions")
        kiln.data.register_dataset(make_frame(seed=2), "transactions")

        back = kiln.data.register_dataset(make_frame(seed=1), "transactions")

        assert back.version == 1
        assert kiln.data.get_version("transactions@latest").version == 2

    def test_parquet_file_is_stored_as_is(self, store: Context, tmp_path: Path) -> None:
        frame = make_frame()
        path = tmp_path / "tx.parquet"
        frame.to_parquet(path, row_group_size=500, compression="gzip")

        version = kiln.data.register_dataset(path, "transactions")

        assert version.source_type == "parquet"
        assert version.source == str(path.resolve())
        assert store.artifacts.read_bytes(version.blobs[0].digest) == path.read_bytes()
        pd.testing.assert_frame_equal(kiln.data.load(version), frame)
        # The same rows from a DataFrame or a differently written file: the same version.
        assert kiln.data.register_dataset(frame, "transactions") == version
        other = tmp_path / "again.parquet"
        frame.to_parquet(other, compression="snappy")
        assert kiln.data.register_dataset(str(other), "transactions") == version

    def test_csv_file(self, store: Context, tmp_path: Path) -> None:
        path = tmp_path / "tx.csv"
        path.write_text("id,amount,channel\n1,2.5,web\n2,,store\n3,4.0,\n")

        version = kiln.data.register_dataset(path, "small", source="s3://bucket/tx.csv")

        assert (version.source_type, version.source, version.num_rows) == (
            "csv",
            "s3://bucket/tx.csv",
            3,
        )
        loaded = kiln.data.load("small@1", as_="arrow")
        assert loaded.column("amount").to_pylist() == [2.5, None, 4.0]
        assert loaded.column("channel").to_pylist() == ["web", "store", None]

    def test_folder_of_parquet_files_keeps_one_blob_per_file(
        self, store: Context, tmp_path: Path
    ) -> None:
        frame = make_frame(1_000)
        folder = tmp_path / "parts"
        (folder / "day=2").mkdir(parents=True)
        (folder / "_SUCCESS").write_text("")
        frame.iloc[:400].to_parquet(folder / "day=1.parquet")
        frame.iloc[400:].to_parquet(folder / "day=2" / "part-0.parquet")
        (folder / ".hidden.parquet").write_bytes(b"not parquet")

        version = kiln.data.register_dataset(folder, "transactions")

        assert version.source_type == "parquet_folder"
        assert [(blob.path, blob.rows) for blob in version.blobs] == [
            ("day=1.parquet", 400),
            ("day=2/part-0.parquet", 600),
        ]
        loaded = kiln.data.load("transactions@1")
        pd.testing.assert_frame_equal(loaded.reset_index(drop=True), frame)
        # The version id is the content's: one file of the same rows is the same version.
        single = from_pandas(frame.reset_index(drop=True))
        assert kiln.data.register_dataset(single, "transactions").version == 1

    # Building the polars frame from pandas (pyarrow inside) trips a pandas 3.1 deprecation
    # on tz-aware columns; Kiln's own conversions silence it the same way.
    @pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")
    def test_polars_frames_register_and_load(self, store: Context, frame: pd.DataFrame) -> None:
        polars = pytest.importorskip("polars")
        version = kiln.data.register_dataset(polars.from_pandas(frame), "transactions")

        assert version.source_type == "polars"
        loaded = kiln.data.load("transactions@1", as_="polars")
        assert loaded.shape == frame.shape

    def test_list_datasets(self, store: Context, frame: pd.DataFrame) -> None:
        assert kiln.data.list_datasets() == []
        kiln.data.register_dataset(frame, "b")
        kiln.data.register_dataset(frame, "a")

        assert [(d.name, d.latest_version) for d in kiln.data.list_datasets()] == [
            ("a", 1),
            ("b", 1),
        ]


class TestErrors:
    def test_unknown_version_names_the_versions_there_are(
        self, store: Context, frame: pd.DataFrame
    ) -> None:
        kiln.data.register_dataset(frame, "transactions")

        with pytest.raises(NotFound, match=r"no version 7; its versions are 1 \(latest: "):
            kiln.data.load("transactions@7")
        with pytest.raises(NotFound, match="no a version abcdef0"):
            kiln.data.load("transactions@abcdef0")

    def test_unknown_dataset_names_the_datasets_there_are(
        self, store: Context, frame: pd.DataFrame
    ) -> None:
        with pytest.raises(NotFound, match="it has none yet"):
            kiln.data.get_dataset("missing")
        kiln.data.register_dataset(frame, "transactions")
        with pytest.raises(NotFound, match="its datasets are transactions"):
            kiln.data.list_versions("missing")

    @pytest.mark.parametrize(
        ("ref", "message"),
        [
            ("", "non-empty"),
            ("x@", "bad version"),
            ("x@0", "bad version"),
            ("x@v2", "bad version"),
            ("x@ABCDEF12", "bad version"),
            ("a/b@1", "must not contain"),
        ],
    )
    def test_malformed_refs(self, store: Context, ref: str, message: str) -> None:
        with pytest.raises(InvalidInput, match=message):
            kiln.data.load(ref)

    @pytest.mark.parametrize("name", ["", "  ", "a@b", "x/y", " padded"])
    def test_bad_names(self, store: Context, frame: pd.DataFrame, name: str) -> None:
        with pytest.raises(InvalidInput, match="dataset name"):
            kiln.data.register_dataset(frame, name)
        assert version_rows(store) == 0

    def test_unreadable_files_are_named(self, store: Context, tmp_path: Path) -> None:
        broken = tmp_path / "broken.parquet"
        broken.write_bytes(b"PAR1 this is not parquet")
        with pytest.raises(InvalidInput, match=r"cannot read '.*broken\.parquet' as Parquet"):
            kiln.data.register_dataset(broken, "x")
        with pytest.raises(InvalidInput, match=r"no file or folder at '.*nowhere\.csv'"):
            kiln.data.register_dataset(tmp_path / "nowhere.csv", "x")
        odd = tmp_path / "data.xlsx"
        odd.write_bytes(b"")
        with pytest.raises(InvalidInput, match="cannot tell the format"):
            kiln.data.register_dataset(odd, "x")
        bad_csv = tmp_path / "bad.csv"
        bad_csv.write_text("a,b\n1,2\n3,4,5\n")
        with pytest.raises(InvalidInput, match=r"cannot read '.*bad\.csv' as CSV"):
            kiln.data.register_dataset(bad_csv, "x")
        with pytest.raises(InvalidInput, match=r"cannot register a builtins\.dict"):
            kiln.data.register_dataset({"a": [1]}, "x")
        assert version_rows(store) == 0

    def test_folder_whose_files_disagree_is_refused(self, store: Context, tmp_path: Path) -> None:
        folder = tmp_path / "parts"
        folder.mkdir()
        pq.write_table(pa.table({"a": [1], "b": ["x"]}), folder / "1.parquet")
        pq.write_table(pa.table({"a": [1.5], "b": ["x"]}), folder / "2.parquet")
        with pytest.raises(InvalidInput, match=r"2\.parquet' does not have the schema.*a: int64"):
            kiln.data.register_dataset(folder, "x")
        empty = tmp_path / "empty"
        empty.mkdir()
        with pytest.raises(InvalidInput, match=r"holds no \.parquet files"):
            kiln.data.register_dataset(empty, "x")

    def test_load_as_an_unknown_format(self, store: Context, frame: pd.DataFrame) -> None:
        kiln.data.register_dataset(frame, "transactions")
        with pytest.raises(InvalidInput, match="as_ must be"):
            kiln.data.load("transactions", as_="excel")  # type: ignore[arg-type]


def test_a_failed_blob_write_registers_nothing(
    tmp_path: Path, database_url: str, frame: pd.DataFrame
) -> None:
    """The version row is written only after its blob is stored."""
    root = tmp_path / "artifacts"
    root.mkdir()
    (root / "blobs").write_text("a file where the blob folder should be")
    kiln.configure(home=tmp_path / "home", database_url=database_url, artifact_root=str(root))
    try:
        with pytest.raises(Conflict, match="nothing was registered"):
            kiln.data.register_dataset(frame, "transactions")
        context = kiln.get_context()
        assert kiln.data.list_datasets() == []
        assert version_rows(context) == 0
        assert (
            context.db.read(
                lambda s: s.scalar(select(func.count()).select_from(VersionedDatasetRow))
            )
            == 0
        )

        (root / "blobs").unlink()
        version = kiln.data.register_dataset(frame, "transactions")
        assert version.version == 1
        pd.testing.assert_frame_equal(kiln.data.load("transactions"), frame)
    finally:
        kiln.configure(home=tmp_path / "after")
        kiln.get_context().close()


def test_concurrent_registrations(store: Context) -> None:
    """Racing writers of the same content get one version; of new content, consecutive numbers."""
    frames = [make_frame(500, seed=seed) for seed in range(4)]
    with ThreadPoolExecutor(4) as pool:
        same = list(pool.map(lambda _: kiln.data.register_dataset(frames[0], "same"), range(4)))
        numbers = list(pool.map(lambda f: kiln.data.register_dataset(f, "many").version, frames))

    assert {version.version_id for version in same} == {same[0].version_id}
    assert [v.version for v in kiln.data.list_versions("same")] == [1]
    assert sorted(numbers) == [1, 2, 3, 4]


def test_unknown_project_stores_nothing(tmp_path: Path, database_url: str) -> None:
    kiln.configure(home=tmp_path / "home", database_url=database_url, project="nowhere")
    try:
        with pytest.raises(NotFound, match="nowhere"):
            kiln.data.register_dataset(make_frame(100), "transactions")
        assert list(kiln.get_context().artifacts.digests()) == []
    finally:
        kiln.configure(home=tmp_path / "after")
        kiln.get_context().close()


def test_frames_arrow_cannot_store_are_refused(store: Context) -> None:
    mixed = pd.DataFrame({"a": [1, "x", 2.5]})
    twice = pd.DataFrame([[1, 2]], columns=["a", "a"])

    with pytest.raises(InvalidInput, match="cannot be stored as Parquet"):
        kiln.data.register_dataset(mixed, "x")
    with pytest.raises(InvalidInput, match="cannot be stored as Parquet"):
        kiln.data.register_dataset(twice, "x")
