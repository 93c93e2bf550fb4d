"""``metric_point_counts``: points per key of one run, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from kiln.db import Database
from kiln.errors import NotFound
from kiln.tracking import _experiments, _history, _runs
from kiln.tracking._entities import Metric


def test_counts_each_keys_points_and_refuses_unknown_runs(db: Database) -> None:
    experiment = db.run(_experiments.ensure_experiment, "default", "exp")
    run_id = db.run(_runs.create_run, "default", experiment.id, name="r").id
    other = db.run(_runs.create_run, "default", experiment.id, name="other").id
    points = [Metric("loss", 1.0 / (s + 1), s, 1_700_000_000_000 + s) for s in range(5)]
    db.run(_runs.log_batch, "default", run_id, metrics=[*points, Metric("auc", 0.9, 0, 1)])
    db.run(_runs.log_batch, "default", other, metrics=[Metric("loss", 1.0, 0, 1)])
    assert db.read(_history.metric_point_counts, "default", run_id) == {"loss": 5, "auc": 1}
    assert db.read(_history.metric_point_counts, "default", other) == {"loss": 1}
    with pytest.raises(NotFound):
        db.read(_history.metric_point_counts, "default", "0" * 32)
