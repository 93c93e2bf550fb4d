"""``check_monitors``: monitors and their rules evaluated as a Kiln pipeline, and on a schedule."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kiln.alerts import list_alerts
from kiln.auth import ensure_project
from kiln.context import Context
from kiln.monitoring._deliveries import DeliveryStatus, list_deliveries
from kiln.monitoring._monitors import create_monitor
from kiln.monitoring._profiles import create_profile
from kiln.monitoring._rules import create_rule
from kiln.monitoring.pipelines import check_monitors
from kiln.pipelines import (
    FiringStatus,
    PipelineStatus,
    Scheduler,
    create_schedule,
    get_pipeline_run,
    list_firings,
    load_output,
)
from tests.monitoring.test_monitors import log_requests, reference, shifted

PROJECT = "default"
START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
TARGET = "kiln.monitoring.pipelines:check_monitors"


@pytest.fixture
def context(make_context: Callable[..., Context], database_url: str) -> Iterator[Context]:
    made = make_context(database_url=database_url)
    made.db.run(ensure_project, PROJECT)
    yield made
    made.close()


@pytest.fixture
def watched(context: Context) -> Context:
    """Two monitors of one deployment with a clean hour then a drifted hour; a drift rule each."""
    create_profile(context, PROJECT, "fraud-ref", reference())
    for name in ("fraud-watch", "fraud-hourly"):
        context.db.run(
            create_monitor,
            PROJECT,
            name,
            target_kind="deployment",
            target="fraud-api",
            spec={"profile": "fraud-ref", "window": "1h"},
        )
        context.db.run(
            create_rule,
            PROJECT,
            name,
            "drifting",
            metric="drift.share",
            operator=">",
            threshold=0.3,
            sinks=[{"kind": "log"}],
        )
    log_requests(context, reference(400, seed=5), at=START, prefix="a")
    log_requests(context, shifted(reference(400, seed=6)), at=START + HOUR, prefix="b")
    return context


def params(**more: Any) -> dict[str, Any]:
    window = {"since": START.isoformat(), "until": (START + 2 * HOUR).isoformat()}
    return window | more


def test_check_monitors_runs_as_a_pipeline_over_every_monitor(watched: Context) -> None:
    run = check_monitors.run(params(), context=watched)

    assert run.status is PipelineStatus.SUCCEEDED
    assert [step.invocation for step in run.steps] == ["check"]
    summary = load_output(run.id, "check", context=watched)
    alerts = watched.db.read(list_alerts, PROJECT)
    assert sorted(a.subject_id for a in alerts) == ["fraud-hourly", "fraud-watch"]
    assert summary == {
        "project": PROJECT,
        "windows": 4,
        "alerts": 2,
        "monitors": {
            name: {"windows": 2, "alerts": [a.id for a in alerts if a.subject_id == name]}
            for name in ("fraud-hourly", "fraud-watch")
        },
    }
    # The step is never cached: a second run looks again, and the windows fired already.
    again = check_monitors.run(params(), context=watched)
    assert not again.steps[0].cached
    assert load_output(again.id, "check", context=watched)["alerts"] == 0


def test_a_monitor_that_cannot_be_checked_fails_the_run_after_the_others(
    watched: Context,
) -> None:
    run = check_monitors.run(
        params(monitors=["ghost", "fraud-watch"]), context=watched, raise_on_failure=False
    )

    assert run.status is PipelineStatus.FAILED
    assert "1 of 2 monitors could not be checked" in str(run.error)
    assert "ghost" in str(run.error)
    assert "raised 1 alert(s)" in str(run.error)
    (alert,) = watched.db.read(list_alerts, PROJECT)
    assert alert.subject_id == "fraud-watch"


def test_bad_times_are_refused(watched: Context) -> None:
    run = check_monitors.run(
        {"since": "2026-11-30T10:00:00"}, context=watched, raise_on_failure=False
    )
    assert run.status is PipelineStatus.FAILED
    assert "ISO 8601 time with a zone" in str(run.error)


def test_a_schedule_runs_check_monitors_through_the_scheduler(watched: Context) -> None:
    created = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    watched.db.run(
        create_schedule,
        PROJECT,
        name="check-hourly",
        target=TARGET,
        cron="0 * * * *",
        params=params(monitors=["fraud-watch"]),
        now=created,
    )

    (firing,) = Scheduler(watched).run_once(datetime(2026, 12, 1, 1, 0, 5, tzinfo=UTC))

    assert firing.status is FiringStatus.SUCCEEDED, firing.error
    assert watched.db.read(list_firings, PROJECT, "check-hourly") == [firing]
    run = watched.db.read(get_pipeline_run, PROJECT, str(firing.pipeline_run_id))
    assert (run.status, run.target) == (PipelineStatus.SUCCEEDED, TARGET)
    (alert,) = watched.db.read(list_alerts, PROJECT)
    assert alert.subject_id == "fraud-watch"
    assert alert.details["window"]["start"] == (START + HOUR).isoformat()
    assert load_output(run.id, "check", context=watched)["alerts"] == 1
    (delivery,) = watched.db.read(list_deliveries, PROJECT, alert.id)
    assert (delivery.sink, delivery.status) == ("log", DeliveryStatus.DELIVERED)
