"""``kiln predict`` through the real console script: files, datasets, registry URIs, errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from kiln import registry
from kiln.context import Context, using_context
from kiln.data import register_dataset
from tests.serving._models import FEATURES, save_classifier, training_frame

KILN = shutil.which("kiln", path=os.path.dirname(sys.executable))


def kiln(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert KILN is not None, "the kiln console script is not installed next to python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env.update(KILN_HOME=str(home), COLUMNS="200", NO_COLOR="1")
    return subprocess.run(
        [KILN, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180
    )


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    folder, model, _ = save_classifier(tmp_path_factory.mktemp("cli-predict") / "hgb")
    return folder, model


@pytest.fixture
def data(tmp_path: Path) -> pd.DataFrame:
    features, _ = training_frame(2_000, seed=5)
    table = features.assign(id=np.arange(2_000))
    table.to_parquet(tmp_path / "in.parquet", index=False)
    return table


def test_a_file_is_scored_and_the_result_printed(
    classifier: tuple[Path, Any], data: pd.DataFrame, tmp_path: Path
) -> None:
    folder, model = classifier
    done = kiln(
        tmp_path / "home",
        "predict",
        str(folder),
        "--input",
        "in.parquet",
        "--output",
        "out.parquet",
        "--chunk-rows",
        "500",
        "--keep",
        "id",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "scored 2,000 rows in 4 chunks (1 partitions)" in done.stdout
    assert "columns: id, prediction" in done.stdout
    written = pq.read_table(tmp_path / "out.parquet").to_pandas()
    np.testing.assert_array_equal(written["id"], data["id"])
    np.testing.assert_array_equal(written["prediction"], model.predict(data[FEATURES]))


def test_json_and_probabilities(
    classifier: tuple[Path, Any], data: pd.DataFrame, tmp_path: Path
) -> None:
    folder, model = classifier
    done = kiln(
        tmp_path / "home",
        "predict",
        str(folder),
        "-i",
        "in.parquet",
        "-o",
        "scores",
        "--proba",
        "-k",
        "id",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["rows"] == 2_000
    assert result["columns"] == ["id", "proba_0", "proba_1"]
    assert (result["method"], result["runner"], result["partitions"]) == (
        "predict_proba",
        "local",
        1,
    )
    assert result["output"] == "scores"
    written = pq.read_table(tmp_path / "scores" / "part-00000.parquet").to_pandas()
    np.testing.assert_allclose(
        written[["proba_0", "proba_1"]].to_numpy(), model.predict_proba(data[FEATURES])
    )


def test_a_dataset_version_with_a_registered_alias(
    classifier: tuple[Path, Any],
    data: pd.DataFrame,
    make_context: Callable[..., Context],
    tmp_path: Path,
) -> None:
    folder, model = classifier
    store = make_context()
    with using_context(store):
        register_dataset(data, "transactions")
        registry.register_model(str(folder), "fraud")
        registry.set_alias("fraud", "champion", 1)
    store.close()
    done = kiln(
        store.settings.home,
        "predict",
        "models:/fraud@champion",
        "--input",
        "transactions@1",
        "--output",
        "out.parquet",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["model_uri"], result["model_version"]) == (
        "models:/fraud@champion",
        "models:/fraud/1",
    )
    written = pq.read_table(tmp_path / "out.parquet").to_pandas()
    np.testing.assert_array_equal(written["prediction"], model.predict(data[FEATURES]))


def test_errors_exit_with_their_codes_and_leave_no_output(
    classifier: tuple[Path, Any], data: pd.DataFrame, tmp_path: Path
) -> None:
    folder, _ = classifier
    home = tmp_path / "home"
    data.drop(columns="f4").to_parquet(tmp_path / "short.parquet", index=False)

    def run(model: str, source: str, output: str) -> subprocess.CompletedProcess[str]:
        return kiln(home, "predict", model, "--input", source, "--output", output, cwd=tmp_path)

    unknown = run("models:/nobody@champion", "in.parquet", "out.parquet")
    assert unknown.returncode == 3, unknown.stderr
    assert "nobody" in unknown.stderr
    missing = run(str(folder), "nope.parquet", "out.parquet")
    assert missing.returncode == 3
    assert "no file or folder at 'nope.parquet'" in missing.stderr
    wrong = run(str(folder), "short.parquet", "out.parquet")
    assert wrong.returncode == 6
    assert "column 'f4' is missing" in wrong.stderr
    no_folder = run(str(folder), "in.parquet", "no/such/out.parquet")
    assert no_folder.returncode == 3
    assert "does not exist; create it first" in no_folder.stderr
    for done in (unknown, missing, wrong, no_folder):
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.parquet").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    bad_runner = kiln(home, "predict", str(folder), "-i", "in.parquet", "-o", "o.parquet",
                      "--runner", "spark", cwd=tmp_path)  # fmt: skip
    assert bad_runner.returncode == 2
