"""describe_study: a study with what its search recorded on the study's run (importances per
objective, the run's status, the report's file), and without them once that run is purged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kiln
from kiln.errors import NotFound
from kiln.tracking import _fluent, _runs
from kiln.training import Float, Int, tune
from kiln.training._study_details import REPORT_PATH, describe_study, study_report


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> Iterator[kiln.Context]:
    context = kiln.configure(home=tmp_path / "store", database_url=database_url)
    yield context
    _fluent._reset_for_tests()
    kiln.configure(home=tmp_path / "after")


def bowl(params: dict[str, Any]) -> float:
    return (params["x"] - 1.0) ** 2 + 0.01 * params["n"]


def test_a_study_with_its_importances_status_and_report(store: kiln.Context) -> None:
    tune(bowl, space={"x": Float(-3, 3), "n": Int(0, 4)}, n_trials=8, seed=4, study="bowl")
    details = store.db.read(describe_study, "default", "bowl")

    assert details.summary.name == "bowl"
    assert len(details.summary.trials) == 8
    assert details.objectives == ["value"]
    (shares,) = details.importances
    assert set(shares) == {"x", "n"}
    assert list(shares.values()) == sorted(shares.values(), reverse=True)
    parent = kiln.get_run(details.summary.parent_run_id)
    assert shares == {k: parent.metrics[f"importance.{k}"].value for k in shares}
    assert details.run_status == "FINISHED"
    assert details.report is not None
    assert details.report.path == REPORT_PATH
    run_id, artifact = store.db.read(study_report, "default", "bowl")
    assert (run_id, artifact) == (details.summary.parent_run_id, details.report)
    body = details.to_dict()
    assert body["report"] == {"run_id": run_id, "path": REPORT_PATH, "size": artifact.size}
    assert body["importances"] == [shares]

    brief = store.db.read(describe_study, "default", "bowl", trials=False)
    assert brief.summary.trials == []
    assert brief.importances == details.importances


def test_several_objectives_are_named_and_stray_metrics_ignored(store: kiln.Context) -> None:
    tune(
        lambda p: [(p["x"] - 1) ** 2, (p["x"] + 1) ** 2 + p["n"]],
        space={"x": Float(-3, 3), "n": Int(0, 2)},
        directions=["minimize", "maximize"],
        metric_names=["loss", "gain"],
        pruner=None,
        n_trials=8,
        seed=2,
        study="two",
    )
    parent = store.db.read(describe_study, "default", "two").summary.parent_run_id
    kiln.log_metrics({"importance.7.x": 0.5, "importance.x": 0.5, "importance.1.": 0.5},
                     run_id=parent)  # fmt: skip
    details = store.db.read(describe_study, "default", "two")
    assert details.objectives == ["loss", "gain"]
    assert len(details.importances) == 2
    assert all(set(shares) <= {"x", "n"} and shares for shares in details.importances)


def test_without_the_study_run_there_is_no_report(store: kiln.Context) -> None:
    tune(bowl, space={"x": Float(-3, 3), "n": Int(0, 4)}, n_trials=3, seed=1, study="bowl")
    parent = store.db.read(describe_study, "default", "bowl").summary.parent_run_id
    store.db.run(_runs.purge_run, "default", parent)

    details = store.db.read(describe_study, "default", "bowl")
    assert (details.run_status, details.report, details.importances) == (None, None, [{}])
    assert len(details.summary.trials) == 3
    with pytest.raises(NotFound, match="has no report yet"):
        store.db.read(study_report, "default", "bowl")
    with pytest.raises(NotFound, match="kiln tune list"):
        store.db.read(describe_study, "default", "no-such")
