"""``rollback_targets``: where a rollback of each alias would lead, as ``rollback_alias`` does."""

from __future__ import annotations

import pytest

from kiln.db import Database
from kiln.errors import NotFound
from kiln.registry import _aliases, _versions
from tests.registry.conftest import PROJECT, MakeRun


def _three_versions(db: Database, make_run: MakeRun) -> None:
    for auc in (0.7, 0.8, 0.9):
        run_id = make_run({"auc": auc})
        db.run(
            _versions.create_model_version,
            PROJECT,
            "fraud",
            f"runs:/{run_id}/model",
            create_model=True,
        )


def test_targets_follow_the_undo_stack(db: Database, make_run: MakeRun) -> None:
    _three_versions(db, make_run)
    assert db.read(_aliases.rollback_targets, PROJECT, "fraud") == {}

    db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 1)
    db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 2)
    db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 3)
    db.run(_aliases.set_alias, PROJECT, "fraud", "staging", 2)
    assert db.read(_aliases.rollback_targets, PROJECT, "fraud") == {"champion": 2, "staging": None}

    for expected in (2, 1):
        target = db.read(_aliases.rollback_targets, PROJECT, "fraud")["champion"]
        event = db.run(_aliases.rollback_alias, PROJECT, "fraud", "champion")
        assert event.to_version == target == expected
    assert db.read(_aliases.rollback_targets, PROJECT, "fraud")["champion"] is None
    db.run(_aliases.rollback_alias, PROJECT, "fraud", "champion")
    assert "champion" not in db.read(_aliases.rollback_targets, PROJECT, "fraud")

    db.run(_aliases.delete_alias, PROJECT, "fraud", "staging")
    assert db.read(_aliases.rollback_targets, PROJECT, "fraud")["staging"] == 2


def test_unknown_model_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound, match="registered model 'nope'"):
        db.read(_aliases.rollback_targets, PROJECT, "nope")
