"""A rule's pipeline starts when the rule fires: a real ``kiln pipelines run`` process."""

from __future__ import annotations

import logging
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiln.alerts import get_alert
from kiln.auth import ensure_project
from kiln.context import Context
from kiln.errors import NotFound
from kiln.monitoring._deliveries import DeliveryStatus, list_deliveries
from kiln.monitoring._evaluate import evaluate_monitor
from kiln.monitoring._monitors import create_monitor
from kiln.monitoring._profiles import create_profile
from kiln.monitoring._results import MonitorResult
from kiln.monitoring._rule_evaluation import evaluate_rules
from kiln.monitoring._rules import create_rule, get_rule
from kiln.monitoring._triggers import trigger_pipeline
from kiln.pipelines import PipelineRun, PipelineStatus, get_pipeline_run
from tests.monitoring.test_monitors import log_requests, reference

PROJECT = "default"
START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)

FLOWS = """
import os
import time

from kiln.pipelines import pipeline, step


@step
def retrain_model(alert_id: int, monitor: str, rule: str, epochs: int, marker: str) -> dict:
    deadline = time.monotonic() + 60
    while marker and os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    return {"alert_id": alert_id, "monitor": monitor, "rule": rule, "epochs": epochs}


@pipeline
def retrain(alert_id: int, monitor: str, rule: str, epochs: int = 1, marker: str = ""):
    return retrain_model(alert_id, monitor, rule, epochs, marker)
"""


@pytest.fixture
def context(make_context: Callable[..., Context], database_url: str) -> Iterator[Context]:
    made = make_context(database_url=database_url)
    made.db.run(ensure_project, PROJECT)
    yield made
    made.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "flows.py").write_text(textwrap.dedent(FLOWS))
    return folder


def one_window(context: Context) -> list[MonitorResult]:
    create_profile(context, PROJECT, "fraud-ref", reference(500))
    context.db.run(
        create_monitor,
        PROJECT,
        "fraud-watch",
        target_kind="deployment",
        target="fraud-api",
        spec={"profile": "fraud-ref", "window": "1h"},
    )
    log_requests(context, reference(100, seed=3), at=START)
    return evaluate_monitor(
        context, PROJECT, "fraud-watch", since=START, until=START + timedelta(hours=1)
    )


def add_rule(context: Context, **params: object) -> None:
    context.db.run(
        create_rule,
        PROJECT,
        "fraud-watch",
        "busy",
        metric="rows",
        operator=">",
        threshold=0,
        pipeline="flows:retrain",
        pipeline_params=params,
    )


def wait_for_run(context: Context, run_id: str, timeout: float = 120) -> PipelineRun:
    deadline = time.monotonic() + timeout
    while True:
        try:
            run: PipelineRun = context.db.read(get_pipeline_run, PROJECT, run_id)
            if run.status is not PipelineStatus.RUNNING:
                return run
        except LookupError:
            pass
        assert time.monotonic() < deadline, f"pipeline run {run_id} did not end"
        time.sleep(0.1)


def test_a_firing_rule_starts_its_pipeline_with_the_alert_in_its_params(
    context: Context, project: Path, tmp_path: Path
) -> None:
    results = one_window(context)
    marker = tmp_path / "hold"
    marker.write_text("")
    add_rule(context, epochs=3, marker=str(marker))

    (alert,) = evaluate_rules(context, PROJECT, "fraud-watch", results, workdir=str(project))

    noted = alert.details["pipeline"]
    assert (noted["target"], noted["workdir"]) == ("flows:retrain", str(project))
    assert isinstance(noted["pid"], int)
    assert context.db.read(get_alert, PROJECT, alert.id).details["pipeline"] == noted
    # Evaluation did not wait: the run is held by the marker until the test lets it go.
    try:
        status = context.db.read(get_pipeline_run, PROJECT, noted["run_id"]).status
    except NotFound:
        status = None  # the process has not recorded its run yet
    assert status in (None, PipelineStatus.RUNNING)
    marker.unlink()
    run = wait_for_run(context, noted["run_id"])
    assert run.status is PipelineStatus.SUCCEEDED, run.error
    assert run.params == {
        "alert_id": alert.id,
        "monitor": "fraud-watch",
        "rule": "busy",
        "epochs": 3,
        "marker": str(marker),
    }
    assert (run.target, run.workdir, run.pipeline) == ("flows:retrain", str(project), "retrain")
    (delivery,) = context.db.read(list_deliveries, PROJECT, alert.id)
    assert (delivery.sink, delivery.status, delivery.attempts) == (
        "pipeline:flows:retrain",
        DeliveryStatus.DELIVERED,
        1,
    )


def test_a_pipeline_that_cannot_start_is_a_failed_delivery_and_the_alert_stays(
    make_context: Callable[..., Context], tmp_path: Path
) -> None:
    context = make_context()
    context.db.run(ensure_project, PROJECT)
    results = one_window(context)
    add_rule(context)
    gone = tmp_path / "gone"

    (alert,) = evaluate_rules(context, PROJECT, "fraud-watch", results, workdir=str(gone))

    assert str(gone) in alert.details["pipeline"]["error"]
    assert "run_id" not in alert.details["pipeline"]
    (delivery,) = context.db.read(list_deliveries, PROJECT, alert.id)
    assert (delivery.sink, delivery.status) == ("pipeline:flows:retrain", DeliveryStatus.FAILED)
    assert "could not start flows:retrain" in delivery.error
    assert context.db.read(get_alert, PROJECT, alert.id).id == alert.id


def test_a_pipeline_process_that_fails_is_logged_with_its_output(
    make_context: Callable[..., Context],
    project: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    context = make_context()
    context.db.run(ensure_project, PROJECT)
    results = one_window(context)
    (project / "broken.py").write_text("import no_such_module_anywhere\n")
    context.db.run(
        create_rule,
        PROJECT,
        "fraud-watch",
        "busy",
        metric="rows",
        operator=">",
        threshold=0,
        pipeline="broken:retrain",
    )
    assert evaluate_rules(context, PROJECT, "fraud-watch", []) == []
    (alert,) = evaluate_rules(
        context, PROJECT, "fraud-watch", results, workdir=str(tmp_path / "gone")
    )
    rule = context.db.read(get_rule, PROJECT, "fraud-watch", "busy")

    with caplog.at_level(logging.WARNING, logger="kiln.monitoring.alerts"):
        noted, delivery, run = trigger_pipeline(context, alert, rule, workdir=str(project))
        assert run is not None
        assert run.wait(timeout=120) != 0
        deadline = time.monotonic() + 30
        while "exited with code" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.05)

    assert delivery.status is DeliveryStatus.DELIVERED  # it started; the run's outcome is its own
    assert noted.details["pipeline"]["run_id"] == run.run_id
    assert "No module named 'no_such_module_anywhere'" in caplog.text
