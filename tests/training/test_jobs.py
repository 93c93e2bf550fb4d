"""Training jobs end to end, with real processes: a script and a module:function run tracked,
their output stored live and in order, metrics logged inside landing on the job's run; a
failing script, a timeout and a cancel each recorded, the last two ending the whole process
tree (a child, a grandchild in its own session, an orphan); usage measured; bad input
refused naming the field; a supervisor that died found and reported."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from kiln.context import Context
from kiln.db import utcnow
from kiln.db.tables import TrainingJobRow
from kiln.errors import Conflict, InvalidInput
from kiln.tracking._artifacts import get_artifact
from kiln.tracking._entities import RunStatus
from kiln.tracking._runs import get_run
from kiln.training._job_control import (
    cancel_job,
    get_job,
    job_logs,
    list_jobs,
    submit_job,
    wait_job,
)
from kiln.training._job_spec import parse_resources, parse_timeout
from kiln.training._jobs import JobSpec, JobStatus, create_job
from tests.training._jobs import BUSY, TRAIN, TREE, assert_gone, running, tree_pids, write

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def sqlite_context(make_context: Callable[..., Context]) -> Context:
    return make_context()


def _run(context: Context, run_id: str | None):  # type: ignore[no-untyped-def]
    assert run_id is not None
    return context.db.read(get_run, context.settings.project, run_id)


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_script_runs_as_a_tracked_job_with_its_output_in_order(
    store: str,
    make_context: Callable[..., Context],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    url = request.getfixturevalue("postgres_url") if store == "postgres" else None
    context = make_context(database_url=url) if url else make_context()
    write(tmp_path, "train.py", TRAIN)
    started = time.monotonic()
    job = submit_job("train.py", ["--lr", "0.1"], context=context)
    assert time.monotonic() - started < 5, "submit returns at once"
    assert job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
    assert (job.name, job.runner, job.working_dir) == ("train", "local", str(tmp_path))

    done = wait_job(job.id, timeout=60, context=context)
    assert done.status is JobStatus.SUCCEEDED, done.failure
    assert done.exit_code == 0
    expected = "epoch 1\nwarning on stderr\nepoch 2\nargs ['--lr', '0.1']\n"
    assert job_logs(done.id, context=context).text == expected
    assert done.cpu_seconds is not None
    assert done.cpu_seconds > 0
    assert done.peak_memory_bytes is not None
    assert done.peak_memory_bytes > 1_000_000
    assert done.gpu_seconds is None  # no GPU on this machine
    assert done.started_at is not None
    assert done.ended_at is not None

    run = _run(context, done.run_id)
    assert (run.name, run.status) == ("train", RunStatus.FINISHED)
    assert run.metrics["loss"].value == 0.25  # logged inside the job, on the job's run
    assert run.metrics["job.cpu_seconds"].value == done.cpu_seconds
    assert run.metrics["job.peak_memory_bytes"].value == done.peak_memory_bytes
    assert run.metrics["job.wall_seconds"].value > 0
    assert "job.gpu_seconds" not in run.metrics
    assert run.tags["kiln.job.id"] == str(done.id)
    log = context.db.read(get_artifact, "default", run.id, "logs/output.log")
    assert context.artifacts.read_bytes(log.digest).decode() == expected
    packages = context.db.read(get_artifact, "default", run.id, "environment/requirements.txt")
    assert "psutil==" in context.artifacts.read_bytes(packages.digest).decode()


def test_a_module_function_is_called_with_the_args_as_strings(
    sqlite_context: Context, tmp_path: Path
) -> None:
    write(tmp_path, "trainer.py", "def fit(*args):\n    print('fit got', args)\n")
    job = submit_job("trainer:fit", ["3", "--fast"], context=sqlite_context, experiment="fits")
    done = wait_job(job.id, timeout=60, context=sqlite_context)
    assert done.status is JobStatus.SUCCEEDED, done.failure
    assert job_logs(done.id, context=sqlite_context).text == "fit got ('3', '--fast')\n"
    assert done.name == "fit"
    run = _run(sqlite_context, done.run_id)
    assert run.status is RunStatus.FINISHED


def test_a_failing_script_is_failed_with_its_exit_code(
    sqlite_context: Context, tmp_path: Path
) -> None:
    write(tmp_path, "fails.py", "import sys\nprint('about to fail')\nsys.exit(3)\n")
    write(tmp_path, "raises.py", "raise ValueError('bad data')\n")
    exits = submit_job("fails.py", context=sqlite_context)
    raises = submit_job("raises.py", context=sqlite_context)
    done = wait_job(exits.id, timeout=60, context=sqlite_context)
    assert (done.status, done.exit_code) == (JobStatus.FAILED, 3)
    assert done.failure == "the job process exited with code 3"
    assert _run(sqlite_context, done.run_id).status is RunStatus.FAILED
    done = wait_job(raises.id, timeout=60, context=sqlite_context)
    assert (done.status, done.exit_code) == (JobStatus.FAILED, 1)
    assert "ValueError: bad data" in job_logs(done.id, context=sqlite_context).text


def test_a_timeout_ends_the_job_and_its_whole_tree(sqlite_context: Context, tmp_path: Path) -> None:
    write(tmp_path, "tree.py", TREE)
    job = submit_job("tree.py", timeout="5s", context=sqlite_context)
    pids = tree_pids(sqlite_context, job.id)
    assert len(pids) == 4
    assert all(running(pid) for pid in pids)
    done = wait_job(job.id, timeout=60, context=sqlite_context)
    assert done.status is JobStatus.TIMED_OUT
    assert done.failure == "ran past its timeout of 5 s and was ended"
    assert_gone(pids)
    assert _run(sqlite_context, done.run_id).status is RunStatus.FAILED
    assert "[kiln] job" in job_logs(done.id, context=sqlite_context).text


def test_cancel_ends_every_process_of_the_tree(sqlite_context: Context, tmp_path: Path) -> None:
    write(tmp_path, "tree.py", TREE)
    job = submit_job("tree.py", context=sqlite_context)
    pids = tree_pids(sqlite_context, job.id)  # read live, while the job runs
    assert get_job(job.id, context=sqlite_context).status is JobStatus.RUNNING
    asked = cancel_job(job.id, context=sqlite_context)
    assert asked.cancel_requested
    done = wait_job(job.id, timeout=30, context=sqlite_context)
    assert done.status is JobStatus.CANCELLED
    assert_gone(pids)
    assert _run(sqlite_context, done.run_id).status is RunStatus.KILLED
    with pytest.raises(Conflict, match="already ended"):
        cancel_job(job.id, context=sqlite_context)


def test_usage_counts_the_cpu_and_memory_the_job_used(
    sqlite_context: Context, tmp_path: Path
) -> None:
    write(tmp_path, "busy.py", BUSY)
    done = wait_job(submit_job("busy.py", context=sqlite_context).id, context=sqlite_context)
    assert done.status is JobStatus.SUCCEEDED, done.failure
    assert done.cpu_seconds is not None
    assert done.cpu_seconds >= 0.9
    assert done.peak_memory_bytes is not None
    assert done.peak_memory_bytes >= 200_000_000
    assert done.wall_seconds is not None
    assert done.wall_seconds >= 1.5


def test_a_dead_supervisor_is_found_and_its_job_failed(
    sqlite_context: Context, tmp_path: Path
) -> None:
    write(tmp_path, "tree.py", TREE)
    job = submit_job("tree.py", context=sqlite_context)
    pids = tree_pids(sqlite_context, job.id)
    supervisor = get_job(job.id, context=sqlite_context).supervisor_pid
    assert supervisor is not None
    os.kill(supervisor, signal.SIGKILL)
    assert_gone([supervisor])
    (listed,) = list_jobs(context=sqlite_context)
    assert listed.status is JobStatus.FAILED
    assert listed.failure is not None
    assert "the supervisor died" in listed.failure
    assert_gone(pids[:3])  # the job's group and the grandchild; the orphan was never its child
    assert _run(sqlite_context, listed.run_id).status is RunStatus.FAILED


def test_a_job_silent_on_another_host_is_taken_as_dead(sqlite_context: Context) -> None:
    spec = JobSpec(name="remote", entry="train.py", working_dir="/")
    job = sqlite_context.db.run(create_job, "default", spec)

    def elsewhere(session, minutes: int) -> None:  # type: ignore[no-untyped-def]
        session.execute(
            update(TrainingJobRow)
            .where(TrainingJobRow.id == job.id)
            .values(
                status="running",
                host="another-host",
                supervisor_pid=1,
                heartbeat_at=utcnow() - timedelta(minutes=minutes),
            )
        )

    sqlite_context.db.run(elsewhere, 1)
    assert get_job(job.id, context=sqlite_context).status is JobStatus.RUNNING
    sqlite_context.db.run(elsewhere, 10)
    found = get_job(job.id, context=sqlite_context)
    assert found.status is JobStatus.FAILED
    assert found.failure is not None
    assert "no heartbeat from host another-host" in found.failure


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"entry": "missing.py"}, "entry", "does not exist"),
        ({"entry": "not an entry"}, "entry", "neither a script path"),
        ({"entry": "no_such_module_here:main"}, "entry", "cannot be found"),
        ({"runner": "k8s"}, "runner", "not one of local, ray"),
        ({"resources": "cpu=two"}, "resources", "not a number"),
        ({"resources": "disk=3"}, "resources", "unknown resources"),
        ({"resources": "memory=lots"}, "resources", "not a size"),
        ({"resources": "cpu"}, "resources", "not name=value"),
        ({"timeout": 0}, "timeout", "not a positive duration"),
        ({"timeout": "soon"}, "timeout", "not a positive duration"),
        ({"isolated": True}, "requirements", "needs its pins"),
        ({"requirements": "absent.txt"}, "requirements", "cannot read"),
        ({"requirements": "loose.txt"}, "requirements", "not pinned"),
        ({"workdir": "no/such/folder"}, "workdir", "does not exist"),
        ({"args": [1, 2]}, "args", "list of strings"),
        ({"name": "a/b"}, "name", "must not contain"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    sqlite_context: Context, tmp_path: Path, given: dict[str, object], field: str, message: str
) -> None:
    write(tmp_path, "train.py", TRAIN)
    write(tmp_path, "loose.txt", "six>=1.0\n")
    arguments = {"entry": "train.py", **given}
    entry = arguments.pop("entry")
    args = arguments.pop("args", ())
    with pytest.raises(InvalidInput, match=message) as raised:
        submit_job(entry, args, context=sqlite_context, **arguments)  # type: ignore[arg-type]
    assert raised.value.field == field
    assert list_jobs(context=sqlite_context) == []


def test_resources_and_timeouts_are_read_as_written() -> None:
    parsed = parse_resources("cpu=2,memory=4GB,gpu=0.5")
    assert (parsed.cpu, parsed.gpu, parsed.memory) == (2.0, 0.5, 4_000_000_000)
    assert parse_resources(None).cpu == 1.0
    assert [parse_timeout(v) for v in (90, "90", "30s", "5m", "2h", None)] == [
        90.0,
        90.0,
        30.0,
        300.0,
        7200.0,
        None,
    ]
