"""Pipeline schedules: cron in a time zone, catch-up, the lease, and the Scheduler's processes.

Times are injected (``now=``) so nothing waits for a clock. The tests that
start real ``kiln pipelines run`` processes start one per behaviour.
"""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kiln.context import Context
from kiln.db import Database
from kiln.errors import AlreadyExists, InvalidInput, NotFound
from kiln.pipelines import (
    CatchUp,
    FiringStatus,
    PipelineStatus,
    Schedule,
    ScheduleFiring,
    Scheduler,
    create_schedule,
    delete_schedule,
    get_pipeline_run,
    get_schedule,
    list_firings,
    list_pipeline_runs,
    list_schedules,
    update_schedule,
)
from kiln.pipelines._cron import fire_times, next_fire_time
from kiln.pipelines._firings import (
    claim_due_firings,
    settle_firing,
    start_firing,
    sync_firings,
)
from kiln.pipelines._records import create_pipeline_run, finish_pipeline_run

#: A Monday, half past midnight UTC: every test's schedules are created at this time.
T0 = datetime(2025, 1, 6, 0, 30, tzinfo=UTC)
PROJECT = "default"

FLOWS = """
import os
import time

from kiln.pipelines import pipeline, step


@step
def make(rows: int) -> list:
    print(f"making {rows} rows")
    return list(range(rows))


@step
def total(values: list, fail: bool) -> int:
    if fail:
        raise ValueError("total refused")
    return sum(values)


@pipeline
def sums(rows: int = 3, fail: bool = False):
    return total(make(rows), fail)


@step
def wait_for(marker: str) -> int:
    deadline = time.monotonic() + 60
    while os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    return 1


@pipeline
def held(marker: str):
    return wait_for(marker)
"""


def hour(hours: int, minutes: int = 0, seconds: int = 0) -> datetime:
    """``hours`` after midnight of T0's day."""
    return T0.replace(minute=0) + timedelta(hours=hours, minutes=minutes, seconds=seconds)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "flows.py").write_text(textwrap.dedent(FLOWS))
    (folder / "broken.py").write_text("import no_such_module_anywhere\n")
    return folder


def schedule(context: Context, name: str = "hourly", **options: Any) -> Schedule:
    options.setdefault("target", "flows:sums")
    options.setdefault("cron", "0 * * * *")
    options.setdefault("now", T0)
    created: Schedule = context.db.run(create_schedule, PROJECT, name=name, **options)
    return created


def firings(context: Context, name: str = "hourly") -> list[ScheduleFiring]:
    found: list[ScheduleFiring] = context.db.read(list_firings, PROJECT, name, limit=1000)
    return found


def statuses(context: Context, name: str = "hourly") -> dict[datetime, FiringStatus]:
    return {firing.fire_time: firing.status for firing in firings(context, name)}


# --- validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "named"),
    [
        ("61 * * * *", "minute field '61'"),
        ("0 24 * * *", "hour field '24'"),
        ("0 3 32 * *", "day-of-month field '32'"),
        ("0 3 * 13 *", "month field '13'"),
        ("0 3 * * MON-XYZ", "day-of-week field 'MON-XYZ'"),
        ("0 3 * *", "has 4 field(s)"),
        ("0 3 * * * *", "has 6 field(s)"),
        ("0 0 30 2 *", "never fires"),
    ],
)
def test_a_bad_cron_expression_names_its_field(
    sqlite_context: Context, project: Path, cron: str, named: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        schedule(sqlite_context, cron=cron)

    assert caught.value.field == "cron"
    assert named in caught.value.message
    assert sqlite_context.db.read(list_schedules, PROJECT) == []


@pytest.mark.parametrize(
    ("options", "field", "fragment"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone", "IANA name"),
        ({"catch_up": "sometimes"}, "catch_up", "skip, latest, all"),
        ({"runner": "teleport"}, "runner", "known runners"),
        ({"target": "flows"}, "target", "module:function"),
        ({"workdir": "relative/path"}, "workdir", "absolute"),
        ({"params": {"when": datetime(2025, 1, 1)}}, "params", "JSON values"),
        ({"now": datetime(2025, 1, 1)}, "now", "timezone-aware"),
    ],
)
def test_bad_options_say_which_and_what_to_do(
    sqlite_context: Context, options: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        schedule(sqlite_context, **options)

    assert caught.value.field == field
    assert fragment in caught.value.message


def test_macros_and_spacing_are_normalized(sqlite_context: Context) -> None:
    daily = schedule(sqlite_context, "daily", cron="@daily")
    spaced = schedule(sqlite_context, "spaced", cron="  0   3 * *  1-5 ")

    assert daily.cron == "0 0 * * *"
    assert daily.next_fire_at == hour(24)
    assert spaced.cron == "0 3 * * 1-5"
    assert spaced.next_fire_at == hour(3)  # T0 is a Monday


# --- time zones ------------------------------------------------------------------------


def test_the_cron_is_read_in_the_schedules_time_zone(sqlite_context: Context) -> None:
    kolkata = schedule(sqlite_context, "kolkata", cron="0 9 * * *", timezone="Asia/Kolkata")
    new_york = schedule(sqlite_context, "new-york", cron="0 9 * * *", timezone="America/New_York")

    assert kolkata.next_fire_at == hour(3, 30)  # 09:00 IST is 03:30 UTC
    assert new_york.next_fire_at == hour(14)  # 09:00 EST is 14:00 UTC in January
    summer = datetime(2025, 7, 1, tzinfo=UTC)
    assert next_fire_time("0 9 * * *", "America/New_York", summer) == summer.replace(hour=13)


def test_clocks_going_forward_fire_a_missing_wall_time_once_after_the_gap() -> None:
    # Europe/Paris: 2025-03-30 02:00 CET becomes 03:00 CEST; 02:30 does not exist that day.
    first = next_fire_time("30 2 * * *", "Europe/Paris", datetime(2025, 3, 29, 12, tzinfo=UTC))
    second = next_fire_time("30 2 * * *", "Europe/Paris", first)

    assert first == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)  # 03:00 CEST, right after the gap
    assert second == datetime(2025, 3, 31, 0, 30, tzinfo=UTC)  # 02:30 CEST
    hourly = fire_times(
        "30 * * * *",
        "Europe/Paris",
        datetime(2025, 3, 30, 0, tzinfo=UTC),
        datetime(2025, 3, 30, 2, tzinfo=UTC),
        10,
    )
    assert hourly == [
        datetime(2025, 3, 30, 1, 30, tzinfo=UTC),
        datetime(2025, 3, 30, 0, 30, tzinfo=UTC),
    ]


def test_clocks_going_back_fire_a_fixed_wall_time_once_and_an_hourly_job_twice() -> None:
    # Europe/Paris: 2025-10-26 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
    start, end = datetime(2025, 10, 25, 12, tzinfo=UTC), datetime(2025, 10, 27, 12, tzinfo=UTC)
    daily = fire_times("30 2 * * *", "Europe/Paris", start, end, 10)
    hourly = fire_times(
        "30 * * * *",
        "Europe/Paris",
        datetime(2025, 10, 26, 0, tzinfo=UTC),
        datetime(2025, 10, 26, 2, tzinfo=UTC),
        10,
    )

    assert daily == [
        datetime(2025, 10, 27, 1, 30, tzinfo=UTC),  # 02:30 CET
        datetime(2025, 10, 26, 0, 30, tzinfo=UTC),  # the first 02:30 (CEST), not the second
    ]
    assert next_fire_time("30 2 * * *", "Europe/Paris", daily[1]) == daily[0]
    assert hourly == [
        datetime(2025, 10, 26, 1, 30, tzinfo=UTC),
        datetime(2025, 10, 26, 0, 30, tzinfo=UTC),
    ]


# --- records ------------------------------------------------------------------------------


def test_create_get_list_update_delete(context: Context) -> None:
    created = schedule(context, "nightly", cron="0 3 * * *", params={"rows": 4}, user="ada")
    schedule(context, "another", enabled=False)

    assert context.db.read(get_schedule, PROJECT, "nightly") == created
    assert created.params == {"rows": 4}
    assert created.catch_up is CatchUp.LATEST
    assert created.created_by == "ada"
    assert [s.name for s in context.db.read(list_schedules, PROJECT)] == ["another", "nightly"]
    assert [s.name for s in context.db.read(list_schedules, PROJECT, enabled=False)] == ["another"]
    assert context.db.read(get_schedule, PROJECT, "another").next_fire_at is None
    with pytest.raises(AlreadyExists):
        schedule(context, "nightly")

    changed = context.db.run(
        update_schedule, PROJECT, "nightly", cron="0 5 * * *", catch_up="all", now=T0
    )
    assert (changed.cron, changed.next_fire_at, changed.catch_up) == (
        "0 5 * * *",
        hour(5),
        CatchUp.ALL,
    )
    assert changed.params == {"rows": 4}

    context.db.run(claim_due_firings, hour(5, 0, 10), "host:1:a")
    assert len(firings(context, "nightly")) == 1
    context.db.run(delete_schedule, PROJECT, "nightly")
    with pytest.raises(NotFound, match="kiln pipelines schedules list"):
        context.db.read(get_schedule, PROJECT, "nightly")
    with pytest.raises(NotFound):
        context.db.read(list_firings, PROJECT, "nightly")


# --- catch-up ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "now", "run", "missed"),
    [
        # 01:00, 02:00 and 03:00 are due; at 03:00:20 the last is on time (grace: a minute).
        ("skip", hour(3, 0, 20), [3], [1, 2]),
        ("skip", hour(3, 5), [], [1, 2, 3]),
        ("latest", hour(3, 5), [3], [1, 2]),
        ("all", hour(3, 5), [1, 2, 3], []),
    ],
)
def test_catch_up_policies(
    context: Context, policy: str, now: datetime, run: list[int], missed: list[int]
) -> None:
    schedule(context, catch_up=policy)

    claims = context.db.run(claim_due_firings, now, "host:1:a")

    assert [claim.firing.fire_time for claim in claims] == [hour(h) for h in run]
    assert all(claim.firing.status is FiringStatus.CLAIMED for claim in claims)
    assert statuses(context) == {hour(h): FiringStatus.CLAIMED for h in run} | {
        hour(h): FiringStatus.MISSED for h in missed
    }
    assert context.db.read(get_schedule, PROJECT, "hourly").next_fire_at == hour(4)
    assert context.db.run(claim_due_firings, now, "host:1:a") == []  # nothing due twice


def test_disabling_then_enabling_does_not_catch_up(context: Context) -> None:
    schedule(context, catch_up="all")
    context.db.run(update_schedule, PROJECT, "hourly", enabled=False, now=hour(0, 40))

    assert context.db.run(claim_due_firings, hour(5, 30), "host:1:a") == []
    enabled = context.db.run(update_schedule, PROJECT, "hourly", enabled=True, now=hour(5, 30))
    assert enabled.next_fire_at == hour(6)
    claims = context.db.run(claim_due_firings, hour(6, 0, 5), "host:1:a")
    assert [claim.firing.fire_time for claim in claims] == [hour(6)]
    assert statuses(context) == {hour(6): FiringStatus.CLAIMED}


# --- the lease ------------------------------------------------------------------------


def test_concurrent_schedulers_claim_each_fire_time_once(
    database_url: str, make_context: Callable[..., Context]
) -> None:
    context = make_context(database_url=database_url)
    names = [f"s{i}" for i in range(6)]
    for name in names:
        schedule(context, name)
    rounds = [hour(h, 0, 5) for h in (1, 2, 3, 4)]
    schedulers = 3
    barrier = threading.Barrier(schedulers)

    def scheduler(number: int) -> list[tuple[str, datetime]]:
        db = Database(database_url)  # an engine of its own, like another process
        won = []
        try:
            for now in rounds:
                barrier.wait(timeout=30)
                for claim in db.run(claim_due_firings, now, f"host:{number}:x"):
                    won.append((claim.schedule.name, claim.firing.fire_time))
        finally:
            db.dispose()
        return won

    with ThreadPoolExecutor(schedulers) as pool:
        results = [f.result(timeout=60) for f in [pool.submit(scheduler, n) for n in range(3)]]

    won = [claim for result in results for claim in result]
    assert len(won) == len(set(won)) == len(names) * len(rounds)
    for name in names:
        assert statuses(context, name) == {hour(h): FiringStatus.CLAIMED for h in (1, 2, 3, 4)}


def test_a_firing_left_unlinked_finds_its_run(context: Context) -> None:
    schedule(context)
    (claim,) = context.db.run(claim_due_firings, hour(1, 0, 5), "host:1:a")
    context.db.run(start_firing, claim.firing.id)
    # The scheduler stopped here; its process went on and recorded the run under the claim's id.
    context.db.run(
        create_pipeline_run,
        PROJECT,
        run_id=claim.run_id,
        pipeline="sums",
        runner="sequential",
        params={},
        no_cache=False,
        steps=[],
    )
    assert context.db.run(sync_firings) == 1
    (started,) = firings(context)
    assert (started.status, started.pipeline_run_id) == (FiringStatus.STARTED, claim.run_id)

    context.db.run(finish_pipeline_run, claim.run_id, PipelineStatus.SUCCEEDED, None)
    assert context.db.run(sync_firings) == 1
    assert firings(context)[0].status is FiringStatus.SUCCEEDED
    assert context.db.run(sync_firings) == 0


def test_a_process_that_dies_mid_run_fails_its_run_too(sqlite_context: Context) -> None:
    context = sqlite_context
    schedule(context)
    (claim,) = context.db.run(claim_due_firings, hour(1, 0, 5), "host:1:a")
    context.db.run(
        create_pipeline_run,
        PROJECT,
        run_id=claim.run_id,
        pipeline="sums",
        runner="sequential",
        params={},
        no_cache=False,
        steps=[],
    )

    status = context.db.run(
        settle_firing, claim.firing.id, claim.run_id, exit_code=-9, output="step 1 of 2\n"
    )

    assert status is FiringStatus.FAILED
    assert "was killed by SIGKILL while the run was RUNNING: step 1 of 2" in str(
        firings(context)[0].error
    )
    run = context.db.read(get_pipeline_run, PROJECT, claim.run_id)
    assert run.status is PipelineStatus.FAILED


# --- the Scheduler, with real processes ------------------------------------------------


def test_two_schedulers_start_one_run_per_fire_time(
    database_url: str, make_context: Callable[..., Context], project: Path
) -> None:
    first, second = (make_context(database_url=database_url) for _ in range(2))
    schedule(first, "nightly", cron="0 3 * * *", params={"rows": 4}, workdir=str(project))
    schedulers = [Scheduler(first), Scheduler(second)]
    barrier = threading.Barrier(2)

    def tick(scheduler: Scheduler) -> int:
        barrier.wait(timeout=30)
        return len(scheduler.tick(hour(3, 0, 5)))

    with ThreadPoolExecutor(2) as pool:
        started = sorted(pool.map(tick, schedulers))
    settled = [firing for scheduler in schedulers for firing in scheduler.wait(timeout=120)]

    assert started == [0, 1]
    (firing,) = firings(first, "nightly")
    assert settled == [firing]
    assert firing.status is FiringStatus.SUCCEEDED, firing.error
    assert firing.fire_time == hour(3)
    (run,) = first.db.read(list_pipeline_runs, PROJECT)
    assert run.id == firing.pipeline_run_id
    assert (run.status, run.params, run.target) == (
        PipelineStatus.SUCCEEDED,
        {"rows": 4, "fail": False},
        "flows:sums",
    )
    assert run.workdir == str(project)


def test_a_failing_pipeline_fails_its_firing(sqlite_context: Context, project: Path) -> None:
    schedule(sqlite_context, params={"fail": True}, workdir=str(project))

    (firing,) = Scheduler(sqlite_context).run_once(hour(1, 0, 5))

    assert firing.status is FiringStatus.FAILED
    assert "total refused" in str(firing.error)
    run = sqlite_context.db.read(get_pipeline_run, PROJECT, str(firing.pipeline_run_id))
    assert run.status is PipelineStatus.FAILED


def test_a_process_that_cannot_import_fails_with_its_output(
    sqlite_context: Context, project: Path
) -> None:
    schedule(sqlite_context, target="broken:job", workdir=str(project))

    (firing,) = Scheduler(sqlite_context).run_once(hour(1, 0, 5))

    assert firing.status is FiringStatus.FAILED
    assert firing.pipeline_run_id is None
    assert "exited with code 6" in str(firing.error)
    assert "No module named 'no_such_module_anywhere'" in str(firing.error)
    assert sqlite_context.db.read(list_pipeline_runs, PROJECT) == []


def test_a_missing_workdir_fails_without_a_process(sqlite_context: Context, tmp_path: Path) -> None:
    schedule(sqlite_context, workdir=str(tmp_path / "gone"))

    (firing,) = Scheduler(sqlite_context).run_once(hour(1, 0, 5))

    assert firing.status is FiringStatus.FAILED
    assert "could not start" in str(firing.error)
    assert str(tmp_path / "gone") in str(firing.error)


def test_stopping_leaves_running_pipelines_noted_and_a_later_tick_settles_them(
    sqlite_context: Context, project: Path, tmp_path: Path
) -> None:
    context = sqlite_context
    marker = tmp_path / "hold"
    marker.write_text("")
    schedule(context, target="flows:held", params={"marker": str(marker)}, workdir=str(project))
    scheduler = Scheduler(context, stop_timeout=0)
    scheduler.tick(hour(1, 0, 5))
    deadline = time.monotonic() + 60
    while firings(context)[0].pipeline_run_id is None:  # the process records its run
        assert time.monotonic() < deadline, firings(context)
        scheduler.tick(hour(1, 0, 6))
        time.sleep(0.05)

    scheduler.close()

    (left,) = firings(context)
    assert left.status is FiringStatus.STARTED
    assert "stopped while this run was going" in str(left.error)
    assert scheduler.running == 0
    marker.unlink()
    run_id = str(left.pipeline_run_id)
    while context.db.read(get_pipeline_run, PROJECT, run_id).status is PipelineStatus.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    Scheduler(context).tick(hour(1, 0, 7))
    (settled,) = firings(context)
    assert (settled.status, settled.error) == (FiringStatus.SUCCEEDED, None)
