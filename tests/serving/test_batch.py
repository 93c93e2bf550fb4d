"""Batch scoring (``kiln.serving._batch.score``) over real models, files, datasets and Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiln import registry
from kiln.context import Context, using_context
from kiln.data import register_dataset
from kiln.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from kiln.serving._batch import BatchResult, score
from tests.pipelines.conftest import local_ray, require_ray
from tests.serving._models import FEATURES, save_classifier, save_scorer, training_frame

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """(folder, fitted model): a HistGradientBoostingClassifier on f0…f19."""
    folder, model, _ = save_classifier(tmp_path_factory.mktemp("batch") / "hgb")
    return folder, model


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pickled python_function model: amount * 2 + count, failing on amount == 13."""
    return save_scorer(tmp_path_factory.mktemp("batch") / "scorer", fail_on=13.0)


def frame(rows: int, seed: int = 1, start: int = 0) -> pd.DataFrame:
    features, _ = training_frame(rows, seed)
    return features.assign(id=np.arange(start, start + rows), region="eu")


def write(data: pd.DataFrame, path: Path, **options: Any) -> Path:
    pq.write_table(pa.Table.from_pandas(data, preserve_index=False), path, **options)
    return path


def leftovers(folder: Path) -> list[str]:
    """Hidden temporary files or folders batch scoring may have left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# -- scoring -------------------------------------------------------------------------------


def test_a_parquet_file_is_scored_in_chunks_with_kept_columns(
    classifier: tuple[Path, Any], tmp_path: Path
) -> None:
    folder, model = classifier
    data = frame(1_000)
    source = write(data, tmp_path / "in.parquet")
    seen: list[tuple[int, int | None]] = []

    result = score(
        folder,
        source,
        tmp_path / "out.parquet",
        chunk_rows=100,
        keep=["id", "region"],
        progress=lambda done, total: seen.append((done, total)),
    )

    assert isinstance(result, BatchResult)
    assert (result.rows, result.chunks, result.partitions) == (1_000, 10, 1)
    assert result.columns == ("id", "region", "prediction")
    assert (result.method, result.runner, result.model_version) == ("predict", "local", None)
    written = pq.read_table(tmp_path / "out.parquet").to_pandas()
    assert list(written.columns) == ["id", "region", "prediction"]
    np.testing.assert_array_equal(written["id"], data["id"])
    np.testing.assert_array_equal(written["prediction"], model.predict(data[FEATURES]))
    assert seen[0] == (0, 1_000)
    assert seen[-1] == (1_000, 1_000)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_row_groups == 10
    assert leftovers(tmp_path) == []


def test_probabilities_get_one_column_per_class(
    classifier: tuple[Path, Any], tmp_path: Path
) -> None:
    folder, model = classifier
    data = frame(300)
    result = score(
        folder, write(data, tmp_path / "in.parquet"), tmp_path / "p.parquet", method="predict_proba"
    )
    assert result.columns == ("proba_0", "proba_1")
    written = pq.read_table(tmp_path / "p.parquet").to_pandas()
    np.testing.assert_allclose(written.to_numpy(), model.predict_proba(data[FEATURES]))


def test_a_folder_is_scored_partition_by_partition(
    classifier: tuple[Path, Any], tmp_path: Path
) -> None:
    folder, model = classifier
    (tmp_path / "in" / "day=2").mkdir(parents=True)
    parts = [frame(250, seed=i, start=250 * i) for i in range(3)]
    write(parts[0], tmp_path / "in" / "a.parquet")
    write(parts[1], tmp_path / "in" / "b.parquet")
    write(parts[2], tmp_path / "in" / "day=2" / "c.parquet")
    (tmp_path / "in" / "_SUCCESS").write_text("")
    write(parts[0], tmp_path / "in" / ".hidden.parquet")

    into_folder = score(folder, tmp_path / "in", tmp_path / "out", keep=["id"])
    into_file = score(folder, tmp_path / "in", tmp_path / "all.parquet", keep=["id"])

    assert (into_folder.rows, into_folder.partitions) == (750, 3)
    assert sorted(os.listdir(tmp_path / "out")) == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    for index, part in enumerate(parts):
        written = pq.read_table(tmp_path / "out" / f"part-{index:05d}.parquet").to_pandas()
        np.testing.assert_array_equal(written["id"], part["id"])
        np.testing.assert_array_equal(written["prediction"], model.predict(part[FEATURES]))
    merged = pq.read_table(tmp_path / "all.parquet").to_pandas()
    assert merged["id"].tolist() == list(range(750))
    assert into_file.rows == 750


def test_csv_is_streamed_and_float_columns_stay_floats(
    classifier: tuple[Path, Any], tmp_path: Path
) -> None:
    """f0 holds whole numbers for the first reader blocks and decimals after them."""
    folder, model = classifier
    data = frame(20_000)
    data["f0"] = data["f0"].round()
    data.loc[15_000:, "f0"] = 0.5
    data[["id", *FEATURES]].to_csv(tmp_path / "in.csv", index=False)

    result = score(folder, tmp_path / "in.csv", tmp_path / "out.parquet", chunk_rows=4_096)

    assert (result.rows, result.chunks) == (20_000, 5)
    written = pq.read_table(tmp_path / "out.parquet").to_pandas()
    reread = pd.read_csv(tmp_path / "in.csv")
    np.testing.assert_array_equal(written["prediction"], model.predict(reread[FEATURES]))


def test_a_dataset_version_and_a_registered_alias(
    classifier: tuple[Path, Any], make_context: Callable[..., Context], tmp_path: Path
) -> None:
    folder, model = classifier
    (tmp_path / "raw").mkdir()
    parts = [frame(200, seed=i, start=200 * i) for i in range(2)]
    for index, part in enumerate(parts):
        write(part, tmp_path / "raw" / f"{index}.parquet")
    store = make_context()
    with using_context(store):
        version = register_dataset(str(tmp_path / "raw"), "transactions")
        registry.register_model(str(folder), "fraud")
        registry.set_alias("fraud", "champion", 1)

        by_ref = score(
            "models:/fraud@champion", "transactions@1", tmp_path / "a.parquet", keep=["id"]
        )
        by_version = score("models:/fraud/1", version, tmp_path / "b", keep=["id"])

    assert (by_ref.rows, by_ref.partitions) == (400, 2)
    assert by_ref.model_uri == "models:/fraud@champion"
    assert by_ref.model_version == "models:/fraud/1"
    assert by_version.partitions == 2
    written = pq.read_table(tmp_path / "a.parquet").to_pandas()
    expected = pd.concat(parts, ignore_index=True)
    np.testing.assert_array_equal(written["id"], expected["id"])
    np.testing.assert_array_equal(written["prediction"], model.predict(expected[FEATURES]))


def test_an_empty_input_gives_an_empty_output_with_the_columns(
    classifier: tuple[Path, Any], tmp_path: Path
) -> None:
    folder, _ = classifier
    source = write(frame(0), tmp_path / "empty.parquet")
    result = score(folder, source, tmp_path / "out.parquet", keep=["id"])
    table = pq.read_table(tmp_path / "out.parquet")
    assert (result.rows, table.num_rows, table.column_names) == (0, 0, ["id", "prediction"])
    assert table.schema.field("prediction").type == pa.int64()


def test_an_existing_output_file_is_replaced_only_when_scoring_succeeds(
    scorer: Path, tmp_path: Path
) -> None:
    good = pd.DataFrame({"amount": [1.0, 2.0] * 500, "count": np.arange(1_000), "city": "x"})
    bad = good.assign(amount=np.where(np.arange(1_000) == 700, 13.0, good["amount"]))
    out = tmp_path / "out.parquet"

    score(scorer, write(good, tmp_path / "good.parquet"), out, chunk_rows=100, allow_pickle=True)
    before = out.read_bytes()
    with pytest.raises(ValueError, match="cannot score that amount"):
        score(scorer, write(bad, tmp_path / "bad.parquet"), out, chunk_rows=100, allow_pickle=True)

    assert out.read_bytes() == before
    assert leftovers(tmp_path) == []
    written = pq.read_table(out).to_pandas()
    np.testing.assert_array_equal(written["prediction"], good["amount"] * 2 + good["count"])


# -- refusals ------------------------------------------------------------------------------


def test_input_that_does_not_fit_the_signature_names_the_column_and_writes_nothing(
    classifier: tuple[Path, Any], tmp_path: Path
) -> None:
    folder, _ = classifier
    missing = write(frame(50).drop(columns="f7"), tmp_path / "missing.parquet")
    strings = write(frame(50).assign(f3="high"), tmp_path / "strings.parquet")
    out = tmp_path / "out.parquet"

    with pytest.raises(InvalidInput, match="'f7' is missing") as error:
        score(folder, missing, out)
    assert error.value.field == "f7"
    with pytest.raises(InvalidInput, match="'f3' expects float64") as error:
        score(folder, strings, out)
    assert error.value.field == "f3"
    assert str(strings) in error.value.message
    with pytest.raises(InvalidInput, match="'customer' to keep") as error:
        score(folder, missing.with_name("strings.parquet"), out, keep=["customer"])
    assert error.value.field == "customer"
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_a_bad_partition_of_a_folder_is_found_before_any_row_is_scored(
    classifier: tuple[Path, Any], tmp_path: Path
) -> None:
    folder, _ = classifier
    (tmp_path / "in").mkdir()
    write(frame(50), tmp_path / "in" / "a.parquet")
    write(frame(50).drop(columns="f0"), tmp_path / "in" / "b.parquet")
    seen: list[int] = []
    with pytest.raises(InvalidInput, match=r"'f0' is missing from .*b\.parquet"):
        score(folder, tmp_path / "in", tmp_path / "out", progress=lambda d, t: seen.append(d))
    assert seen == []
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


def test_a_value_only_a_later_chunk_holds_is_refused_and_leaves_no_output(
    scorer: Path, tmp_path: Path
) -> None:
    counts = pd.array([*range(900), None, *range(99)], dtype="Int64")
    data = pd.DataFrame({"amount": 1.0, "count": counts, "city": "x"})
    with pytest.raises(InvalidInput, match="count") as error:
        score(
            scorer,
            write(data, tmp_path / "in.parquet"),
            tmp_path / "out",
            chunk_rows=100,
            allow_pickle=True,
        )
    assert error.value.field == "count"
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


def test_missing_things_are_not_found(classifier: tuple[Path, Any], tmp_path: Path) -> None:
    folder, _ = classifier
    source = write(frame(10), tmp_path / "in.parquet")
    with pytest.raises(NotFound, match="no file or folder"):
        score(folder, tmp_path / "nope.parquet", tmp_path / "out.parquet")
    with pytest.raises(NotFound, match="does not exist; create it first"):
        score(folder, source, tmp_path / "no" / "such" / "out.parquet")
    with pytest.raises(NotFound, match="no model folder"):
        score(tmp_path / "no-model", source, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_unknown_registry_model_and_dataset(
    classifier: tuple[Path, Any], make_context: Callable[..., Context], tmp_path: Path
) -> None:
    folder, _ = classifier
    source = write(frame(10), tmp_path / "in.parquet")
    with using_context(make_context()):
        with pytest.raises(NotFound, match="fraud"):
            score("models:/fraud@champion", source, tmp_path / "out.parquet")
        with pytest.raises(NotFound, match="transactions"):
            score(folder, "transactions@1", tmp_path / "out.parquet")


def test_malformed_arguments_and_outputs_are_refused(
    classifier: tuple[Path, Any], tmp_path: Path
) -> None:
    folder, _ = classifier
    source = write(frame(10), tmp_path / "in.parquet")
    out = tmp_path / "out.parquet"
    for options, field in (
        ({"chunk_rows": 0}, "chunk_rows"),
        ({"method": "transform"}, "method"),
        ({"runner": "spark"}, "runner"),
        ({"keep": "id"}, "keep"),
    ):
        with pytest.raises(InvalidInput) as error:
            score(folder, source, out, **options)
        assert error.value.field == field
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(AlreadyExists, match="not empty"):
        score(folder, source, tmp_path / "full")
    (tmp_path / "folder.parquet").mkdir()
    with pytest.raises(InvalidInput, match="is a folder"):
        score(folder, source, tmp_path / "folder.parquet")
    with pytest.raises(InvalidInput, match="cannot tell the format"):
        score(folder, tmp_path / "full" / "x", out)
    with pytest.raises(InvalidInput, match="kept column 'prediction'"):
        score(
            folder,
            write(frame(5).assign(prediction=1), tmp_path / "p.parquet"),
            out,
            keep=["prediction"],
        )


# -- memory --------------------------------------------------------------------------------

MEASURE = """
import json, resource, sys
import pyarrow as pa
from kiln.serving._batch import score

def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

model, small, big, out = sys.argv[1:5]
score(model, small, out, chunk_rows=10_000)  # imports, model load, allocator warm-up
before = peak_mib()
result = score(model, big, out, chunk_rows=10_000)
print(json.dumps({"rows": result.rows, "growth_mib": peak_mib() - before,
                  "arrow_peak_mib": pa.default_memory_pool().max_memory() / 2**20}))
"""


@pytest.mark.slow
def test_memory_is_bounded_by_the_chunk_not_the_file(
    classifier: tuple[Path, Any], tmp_path: Path
) -> None:
    """800k rows x 20 float features (122 MiB of values) in ONE row group, 10k-row chunks.

    Reading it whole would take the file's 122 MiB as Arrow plus as much
    again as pandas. Streamed, Arrow holds a read buffer and the current
    page of each column (tens of MiB for 20 columns, whatever the file's
    size) plus a chunk (1.5 MiB); the bounds leave room above that and stay
    well below the file.
    """
    folder, _ = classifier
    rows = 800_000
    rng = np.random.default_rng(3)
    table = pa.table({name: rng.normal(size=rows) for name in FEATURES})
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=rows, compression="none")
    pq.write_table(table.slice(0, 20_000), tmp_path / "small.parquet")
    del table
    measured = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(MEASURE),
            str(folder),
            str(tmp_path / "small.parquet"),
            str(tmp_path / "big.parquet"),
            str(tmp_path / "out.parquet"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    figures = json.loads(measured.stdout)
    assert figures["rows"] == rows
    assert figures["growth_mib"] < 80, figures
    assert figures["arrow_peak_mib"] < 80, figures


# -- Ray -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[ModuleType]:
    """The local Ray instance of the session's Ray tests when it runs, else one of our own.

    The Ray tests share one xdist worker (tests/conftest.py); tests/pipelines
    starts its instance for the whole session, and two in one process are
    refused, so one already running is reused. Started here (these tests run
    alone), it is set up as tests/pipelines/conftest.py does and stopped at
    the end of the module.
    """
    require_ray()
    running = sys.modules.get("ray")
    if running is not None and running.is_initialized():
        yield running
        return
    with local_ray() as ray:
        yield ray


@pytest.mark.ray
def test_ray_scores_each_partition_in_its_own_task(
    ray_instance: ModuleType, classifier: tuple[Path, Any], tmp_path: Path
) -> None:
    folder, model = classifier
    (tmp_path / "in").mkdir()
    parts = [frame(300, seed=i, start=300 * i) for i in range(3)]
    for index, part in enumerate(parts):
        write(part, tmp_path / "in" / f"{index}.parquet")
    seen: list[tuple[int, int | None]] = []

    as_folder = score(folder, tmp_path / "in", tmp_path / "out", keep=["id"], runner="ray")
    as_file = score(
        folder,
        tmp_path / "in",
        tmp_path / "all.parquet",
        keep=["id"],
        runner="ray",
        chunk_rows=128,
        progress=lambda done, total: seen.append((done, total)),
    )

    assert (as_folder.rows, as_folder.partitions, as_folder.runner) == (900, 3, "ray")
    assert sorted(os.listdir(tmp_path / "out")) == [f"part-{i:05d}.parquet" for i in range(3)]
    merged = pq.read_table(tmp_path / "all.parquet").to_pandas()
    expected = pd.concat(parts, ignore_index=True)
    assert merged["id"].tolist() == expected["id"].tolist()
    np.testing.assert_array_equal(merged["prediction"], model.predict(expected[FEATURES]))
    assert as_file.chunks == 9
    assert sorted(done for done, _ in seen) == [0, 300, 600, 900]
    assert {total for _, total in seen} == {900}
    assert leftovers(tmp_path) == []


@pytest.mark.ray
def test_a_failing_ray_task_fails_the_job_and_leaves_nothing(
    ray_instance: ModuleType, scorer: Path, tmp_path: Path
) -> None:
    (tmp_path / "in").mkdir()
    good = pd.DataFrame({"amount": 1.0, "count": np.arange(100), "city": "x"})
    write(good, tmp_path / "in" / "0.parquet")
    write(good.assign(amount=13.0), tmp_path / "in" / "1.parquet")
    nulls = good.assign(count=pd.array([None, *range(99)], dtype="Int64"))
    (tmp_path / "nulls").mkdir()
    write(nulls, tmp_path / "nulls" / "0.parquet")

    with pytest.raises(Conflict, match="cannot score that amount"):
        score(scorer, tmp_path / "in", tmp_path / "out", runner="ray", allow_pickle=True)
    with pytest.raises(InvalidInput, match="count") as error:
        score(scorer, tmp_path / "nulls", tmp_path / "o.parquet", runner="ray", allow_pickle=True)

    assert error.value.field == "count"
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "o.parquet").exists()
    assert leftovers(tmp_path) == []
