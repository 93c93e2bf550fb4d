"""Applying definitions to the metadata store (SQLite and PostgreSQL): versions and the diff."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from kiln.db import Database
from kiln.features._loading import Definitions, load_definitions
from kiln.features._registry import apply_definitions, current_definitions, definition_history
from tests.features.test_loading import DEFINITIONS


def definitions(tmp_path: Path, text: str = DEFINITIONS, name: str = "features.py") -> Definitions:
    path = tmp_path / name
    path.write_text(text)
    return load_definitions(path)


def test_apply_versions_changes_and_reports_the_diff(db: Database, tmp_path: Path) -> None:
    first = db.run(apply_definitions, "default", definitions(tmp_path), user="ana")
    assert sorted(first.added) == [
        ("entity", "customer", 1),
        ("entity", "merchant", 1),
        ("feature_service", "fraud", 1),
        ("feature_view", "customer_stats", 1),
        ("feature_view", "recent", 1),
    ]

    again = db.run(apply_definitions, "default", definitions(tmp_path))
    assert again.empty
    assert len(again.unchanged) == 5

    longer = DEFINITIONS.replace("timedelta(hours=36)", "timedelta(hours=48)")
    changed = db.run(apply_definitions, "default", definitions(tmp_path, longer))
    assert changed.changed == [("feature_view", "customer_stats", 2)]
    current = db.read(current_definitions, "default")
    assert current.views["customer_stats"].ttl == timedelta(hours=48)

    without_recent = longer.split("recent = FeatureView(")[0] + (
        'fraud = FeatureService("fraud", [stats], description="the fraud model\'s")\n'
    )
    dropped = db.run(apply_definitions, "default", definitions(tmp_path, without_recent))
    assert sorted(dropped.removed) == [("entity", "merchant", 2), ("feature_view", "recent", 2)]
    assert dropped.changed == [("feature_service", "fraud", 2)]
    current = db.read(current_definitions, "default")
    assert sorted(current.views) == ["customer_stats"]
    assert sorted(current.entities) == ["customer"]

    back = db.run(apply_definitions, "default", definitions(tmp_path, longer))
    assert ("feature_view", "recent", 3) in back.added
    history = db.read(definition_history, "default", "feature_view", "recent")
    assert [(v.version, v.removed) for v in history] == [(1, False), (2, True), (3, False)]
    assert history[0].spec["features"][0]["name"] == "risk"


def test_read_back_definitions_equal_what_was_applied(db: Database, tmp_path: Path) -> None:
    applied = definitions(tmp_path)
    db.run(apply_definitions, "default", applied)

    current = db.read(current_definitions, "default")

    for name, view in applied.views.items():
        assert current.views[name].to_dict() == view.to_dict()
    assert current.services["fraud"].references() == applied.services["fraud"].references()
    assert db.read(current_definitions, "default").views.keys() == current.views.keys()
