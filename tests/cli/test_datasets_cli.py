"""``kiln datasets``: list, versions, show and profile over a temporary Kiln home.

Versions are registered in-process through the services; the commands run as
real ``kiln`` processes, as in test_cli.py.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kiln.config import Settings
from kiln.context import Context
from kiln.data import _service
from tests.cli.test_cli import Run, as_json, assert_error, make_runner


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("kiln-datasets") / "kiln-home"
    kiln = Context(Settings.load(home=home))
    try:
        for frame in (
            pd.DataFrame({"amount": [1.0, 2.0, None], "city": ["oslo", "oslo", "rome"]}),
            pd.DataFrame(
                {"amount": [1.5, 2.5, 3.5, 4.5], "city": ["oslo", "rome", "rome", "nice"]}
            ),
        ):
            _service.register(
                kiln.db, kiln.artifacts, "default", frame, "tx", description="card tx"
            )
    finally:
        kiln.close()
    return home


@pytest.fixture(scope="module")
def run(home: Path) -> Run:
    return make_runner(home)


def test_list_shows_datasets_with_their_latest_version(run: Run) -> None:
    listed = as_json(run("datasets", "list", "--json"))
    assert [(d["name"], d["latest_version"], d["description"]) for d in listed] == [
        ("tx", 2, "card tx")
    ]
    table = run("datasets", "list").stdout
    assert "tx" in table
    assert "card tx" in table


def test_versions_lists_newest_first(run: Run) -> None:
    listed = as_json(run("datasets", "versions", "tx", "--json"))
    assert [(v["version"], v["num_rows"]) for v in listed] == [(2, 4), (1, 3)]
    table = run("datasets", "versions", "tx").stdout
    assert listed[0]["version_id"][:12] in table


def test_show_prints_schema_rows_bytes_source_and_blobs(run: Run) -> None:
    shown = as_json(run("datasets", "show", "tx@1", "--json"))
    assert shown["uri"] == "tx@1"
    assert shown["num_rows"] == 3
    assert [f["name"] for f in shown["schema"]] == ["amount", "city"]
    assert shown["blobs"]
    assert shown["num_bytes"] > 0

    text = run("datasets", "show", "tx").stdout
    assert "tx@2" in text
    assert "rows: 4, columns: 2" in text
    assert "schema" in text
    assert "blobs" in text
    assert "city" in text


def test_profile_prints_a_row_per_column(run: Run) -> None:
    text = run("datasets", "profile", "tx@1").stdout
    assert "tx@1: 3 rows, 2 columns" in text
    assert "1 (33.3%)" in text  # one null amount
    assert "oslo (2)" in text  # top category
    assert "1.5" in text  # mean of the amounts

    profile = as_json(run("datasets", "profile", "tx@latest", "--json"))
    assert profile["num_rows"] == 4
    assert [c["name"] for c in profile["columns"]] == ["amount", "city"]


def test_missing_dataset_and_version_exit_3(run: Run) -> None:
    assert_error(run("datasets", "show", "nope", code=3), "nope")
    assert_error(run("datasets", "versions", "nope", code=3), "nope")
    assert_error(run("datasets", "profile", "tx@9", code=3))
