"""The monitor pages' seed: a profile, monitor ``fraud-watch`` and its windows, an alert.

In project ``monitor-shop`` of the demo store (so the demo's pages stay as
the other tests expect): a profile of reference rows, monitor
``fraud-watch`` of deployment ``fraud-api`` whose log the real
``PredictionLog`` wrote (a clean hour, then an hour whose ``amount`` is
shifted), evaluated by the real service, and an alert raised on it. Used by
the monitor pages' tests and the accessibility sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd

from kiln import auth
from kiln.alerts import raise_alert
from kiln.context import Context
from kiln.monitoring._evaluate import evaluate_monitor
from kiln.monitoring._monitors import create_monitor
from kiln.monitoring._profiles import create_profile
from kiln.serving._prediction_log import PredictionLog, PredictionRecord
from tests.monitoring.test_monitors import START, reference, shifted
from tests.ui._seed import settings

PROJECT = "monitor-shop"
ALERT = "fraud-watch: amount drifted"


@dataclass(frozen=True)
class MonitorSeed:
    viewer_token: str
    editor_token: str


_SEEDED: dict[Path, MonitorSeed] = {}


def seed(home: Path) -> MonitorSeed:
    """The project's profile, monitor, windows and alert, made once per store."""
    if home not in _SEEDED:
        context = Context(settings(home).model_copy(update={"project": PROJECT}))
        try:
            _SEEDED[home] = _seed(context)
        finally:
            context.close()
    return _SEEDED[home]


def _log(context: Context, frame: pd.DataFrame, prefix: str, hour: int) -> None:
    log = PredictionLog(context, project=PROJECT)
    try:
        for n, begin in enumerate(range(0, len(frame), 10)):
            part = frame.iloc[begin : begin + 10]
            log.record(
                PredictionRecord(
                    request_id=f"{prefix}-{n}",
                    deployment="fraud-api",
                    model="fraud",
                    version=1,
                    route="primary",
                    inputs={c: part[c].tolist() for c in ("amount", "age", "city")},
                    outputs={"predictions": part["predictions"].tolist()},
                    n_rows=len(part),
                    latency_ms=1.0,
                    time=START + timedelta(hours=hour, minutes=n * 50 / (len(frame) / 10)),
                )
            )
        log.flush()
    finally:
        log.close()


def _seed(context: Context) -> MonitorSeed:
    db = context.db
    db.run(auth.ensure_project, PROJECT)
    create_profile(context, PROJECT, "fraud-ref", reference())
    spec = {"profile": "fraud-ref", "window": "1h", "sensitive": ["city"]}
    db.run(
        create_monitor,
        PROJECT,
        "fraud-watch",
        target_kind="deployment",
        target="fraud-api",
        spec=spec,
        description="card fraud <b>scores</b>",
    )
    _log(context, reference(600, seed=5), "a", 0)
    _log(context, shifted(reference(600, seed=6)), "b", 1)
    evaluate_monitor(context, PROJECT, "fraud-watch", since=START, until=START + timedelta(hours=2))
    db.run(
        raise_alert,
        PROJECT,
        kind="monitor",
        severity="critical",
        title=ALERT,
        subject_kind="monitor",
        subject_id="fraud-watch",
        details={"rule": "drift.share > 0.2", "value": 0.3333, "column": "amount"},
    )
    tokens = {}
    for user, role in (("monitor-editor", "editor"), ("monitor-viewer", "viewer")):
        db.run(auth.create_user, user)
        db.run(auth.set_member, PROJECT, user, role)
        tokens[role] = db.run(auth.create_token, user, PROJECT).secret
    return MonitorSeed(tokens["viewer"], tokens["editor"])
