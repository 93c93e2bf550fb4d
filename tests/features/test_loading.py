"""Definitions are read from real Python files and survive their canonical round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.errors import InvalidInput, NotFound
from kiln.features._definitions import Entity, FeatureService, FeatureView
from kiln.features._loading import load_definitions
from kiln.features._sources import source_from_dict

DEFINITIONS = """
from datetime import timedelta

from kiln.features._definitions import Entity, FeatureService, FeatureView, Field
from kiln.features._sources import CsvSource, DuckDBSource, ParquetSource

customer = Entity("customer", {"customer_id": "int64"}, owner="risk")
stats = FeatureView(
    "customer_stats",
    [customer],
    ParquetSource("stats/"),
    [Field("spend", "float64"), Field("segment", "string")],
    created_timestamp="created",
    ttl=timedelta(hours=36),
    tags={"team": "risk"},
)
recent = FeatureView(
    "recent",
    [Entity("merchant", {"merchant_id": "string"})],
    DuckDBSource("SELECT * FROM 'events.parquet'"),
    [Field("risk", "float64")],
)
fraud = FeatureService("fraud", [stats, "recent:risk"], description="the fraud model's")
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_a_file_yields_its_entities_views_and_services(tmp_path: Path) -> None:
    found = load_definitions(write(tmp_path, "features.py", DEFINITIONS))

    assert sorted(found.entities) == ["customer", "merchant"]
    assert sorted(found.views) == ["customer_stats", "recent"]
    assert found.services["fraud"].references() == [
        "customer_stats:spend",
        "customer_stats:segment",
        "recent:risk",
    ]


def test_definitions_survive_their_canonical_round_trip(tmp_path: Path) -> None:
    found = load_definitions(write(tmp_path, "features.py", DEFINITIONS))

    for entity in found.entities.values():
        assert Entity.from_dict(entity.to_dict()) == entity
    for view in found.views.values():
        again = FeatureView.from_dict(view.to_dict(), found.entities)
        assert again.to_dict() == view.to_dict()
    service = found.services["fraud"]
    assert FeatureService.from_dict(service.to_dict()).to_dict() == service.to_dict()
    with pytest.raises(InvalidInput, match="unknown feature source kind 'ftp'"):
        source_from_dict({"kind": "ftp"})
    with pytest.raises(InvalidInput, match="uses unknown entities customer"):
        FeatureView.from_dict(found.views["customer_stats"].to_dict(), {})


def test_a_folder_is_read_whole_and_one_name_may_not_mean_two_things(tmp_path: Path) -> None:
    folder = tmp_path / "repo"
    write(folder, "a.py", DEFINITIONS)
    write(folder, "_private.py", "raise RuntimeError('not read')")
    write(folder / "more", "b.py", DEFINITIONS)  # the same definitions again: fine
    assert sorted(load_definitions(folder).views) == ["customer_stats", "recent"]

    clash = DEFINITIONS.replace("timedelta(hours=36)", "timedelta(hours=12)")
    write(folder, "c.py", clash)
    with pytest.raises(InvalidInput, match="FeatureView 'customer_stats' is defined twice"):
        load_definitions(folder)


def test_broken_files_say_which_file_and_what(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        load_definitions(tmp_path / "missing.py")
    bad = write(tmp_path, "bad.py", "import no_such_module\n")
    with pytest.raises(InvalidInput, match=r"bad.py failed to import: ModuleNotFoundError"):
        load_definitions(bad)
    invalid = write(
        tmp_path, "invalid.py", DEFINITIONS.replace('"int64"}, owner', '"uuid"}, owner')
    )
    with pytest.raises(InvalidInput, match=r"invalid.py: .*unknown type 'uuid'"):
        load_definitions(invalid)
    dangling = write(tmp_path, "dangling.py", DEFINITIONS.replace('"recent:risk"', '"recent:nope"'))
    with pytest.raises(InvalidInput, match="refers to 'recent:nope', which no feature view"):
        load_definitions(dangling)
