"""``kiln jobs``: submit code as a tracked training job, list, show, follow its logs, cancel it.

``submit`` returns as soon as the job's supervisor started (the job runs on
after the command ends); ``--follow`` streams the output and ``--wait``
only waits, and both exit with the job's status: 0 when it succeeded, its
exit code when it failed with one (1 otherwise), 124 when it timed out,
130 when it was cancelled.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from kiln.cli._app import context
from kiln.cli._output import console, err_console, print_json

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.training._jobs import Job

NAME = "jobs"
HELP = "Training jobs: submit code as a tracked job, list, show, logs, cancel."
app = typer.Typer(no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON instead of text.")
#: Exit codes of the job's end, like timeout(1) and a shell's Ctrl-C.
TIMED_OUT_EXIT = 124
CANCELLED_EXIT = 130


def exit_code_for(job: Job) -> int:
    """What ``--wait``/``--follow`` exit with for an ended job."""
    status = job.status.value
    if status == "succeeded":
        return 0
    if status == "timed_out":
        return TIMED_OUT_EXIT
    if status == "cancelled":
        return CANCELLED_EXIT
    if job.exit_code is not None and 0 < job.exit_code < 256:
        return job.exit_code
    return 1


def _memory(value: int | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value} B"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _summary(job: Job) -> str:
    parts = [f"job {job.id} ({job.name}) {job.status.value}"]
    if job.exit_code is not None and job.status.value != "succeeded":
        parts.append(f"exit code {job.exit_code}")
    if job.wall_seconds is not None:
        parts.append(f"{job.wall_seconds:.1f} s")
    if job.cpu_seconds is not None:
        parts.append(f"CPU {job.cpu_seconds:.1f} s, peak memory {_memory(job.peak_memory_bytes)}")
    text = ", ".join(parts)
    return f"{text}: {job.failure}" if job.failure and job.status.value != "succeeded" else text


def _follow(kiln: Context, job_id: int, *, stream: bool) -> Job:
    """Wait for the job's end, streaming its output (``stream``) or showing its progress."""
    from kiln.training._job_control import wait_job

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    try:
        if stream:
            return wait_job(job_id, on_output=write, context=kiln)
        with err_console.status(f"job {job_id} running…"):
            return wait_job(job_id, context=kiln)
    except KeyboardInterrupt:
        err_console.print(
            f"stopped waiting; job {job_id} goes on (`kiln jobs cancel {job_id}` stops it)",
            highlight=False,
        )
        raise typer.Exit(CANCELLED_EXIT) from None


def _finish(job: Job, *, as_json: bool) -> None:
    if as_json:
        print_json(job.to_dict())
    else:
        err_console.print(_summary(job), highlight=False, markup=False)
    raise typer.Exit(exit_code_for(job))


@app.command("submit")
def submit(
    ctx: typer.Context,
    entry: str = typer.Argument(..., help="script.py, or module:function (called with the args)."),
    args: str | None = typer.Option(
        None,
        "--args",
        help='Arguments for the entry point, as a shell would split them: "--lr 0.1".',
    ),
    name: str | None = typer.Option(None, "--name", help="Job (and run) name; default: its entry."),
    resources: str | None = typer.Option(
        None, "--resources", help="cpu=2,memory=4GB,gpu=0 (Ray places the job by them)."
    ),
    runner: str = typer.Option("local", "--runner", help="local or ray."),
    timeout: str | None = typer.Option(
        None, "--timeout", help="End the job after this long: seconds, or 30s, 5m, 2h."
    ),
    workdir: Path | None = typer.Option(
        None, "--workdir", help="Folder the job runs in (default: this one)."
    ),
    experiment: str = typer.Option("jobs", "--experiment", help="Experiment of the job's run."),
    isolated: bool = typer.Option(
        False,
        "--isolated",
        help="Run in a fresh virtual environment built from pinned requirements.",
    ),
    requirements: Path | None = typer.Option(
        None, "--requirements", help="Requirements file of the isolated environment (pins)."
    ),
    requirements_from_run: str | None = typer.Option(
        None,
        "--requirements-from-run",
        help="Build the isolated environment from a run's packages.",
    ),
    wait: bool = typer.Option(
        False, "--wait", help="Wait for the job's end; exit with its status."
    ),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Stream the job's output until it ends."
    ),
    as_json: bool = JSON,
) -> None:
    """Run code as a tracked job with captured logs, status and resource usage."""
    from kiln.errors import InvalidInput
    from kiln.training._job_control import submit_job

    try:
        arguments = shlex.split(args) if args else []
    except ValueError as error:
        raise InvalidInput(f"--args {args!r} cannot be split: {error}", field="args") from None
    kiln = context(ctx)
    job = submit_job(
        entry,
        arguments,
        name=name,
        resources=resources,
        runner=runner,
        timeout=timeout,
        workdir=workdir,
        experiment=experiment,
        isolated=isolated,
        requirements=requirements,
        requirements_from_run=requirements_from_run,
        context=kiln,
    )
    if not (wait or follow):
        if as_json:
            print_json(job.to_dict())
            return
        console.print(
            f"job [bold]{job.id}[/] ({job.name}) submitted, run {job.run_id}; follow it with "
            f"`kiln jobs logs {job.id} --follow`",
            highlight=False,
        )
        return
    _finish(_follow(kiln, job.id, stream=follow), as_json=as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: str | None = typer.Option(None, "--status", help="Only jobs with this status."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="How many, newest first."),
    as_json: bool = JSON,
) -> None:
    """List the project's jobs, newest first."""
    from rich.table import Table

    from kiln.training._job_control import list_jobs

    kiln = context(ctx)
    found = list_jobs(status=status, limit=limit, context=kiln)
    if as_json:
        print_json([job.to_dict() for job in found])
        return
    table = Table(header_style="bold")
    for column in ("id", "name", "status", "entry", "runner", "started", "duration", "CPU s"):
        table.add_column(
            column, justify="right" if column in ("id", "CPU s", "duration") else "left"
        )
    table.add_column("peak memory", justify="right")
    for job in found:
        table.add_row(
            str(job.id),
            job.name,
            job.status.value,
            " ".join([job.entry, *job.args]),
            job.runner,
            job.started_at.strftime("%Y-%m-%d %H:%M:%S") if job.started_at else "-",
            _seconds(job.wall_seconds),
            _seconds(job.cpu_seconds),
            _memory(job.peak_memory_bytes),
        )
    console.print(table)


def _fact(label: str, value: Any) -> None:
    console.print(f"[bold]{label}[/]: {'-' if value is None else value}", highlight=False)


@app.command("show")
def show(ctx: typer.Context, job_id: str, as_json: bool = JSON) -> None:
    """Show a job: entry, resources, status, its run, what it used."""
    from kiln.training._job_control import get_job

    job = get_job(job_id, context=context(ctx))
    if as_json:
        print_json(job.to_dict())
        return
    _fact("job", f"{job.id} ({job.name})")
    _fact("status", job.status.value + (" (cancel requested)" if job.cancel_requested else ""))
    _fact("entry", shlex.join([job.entry, *job.args]))
    _fact("working dir", job.working_dir)
    _fact("runner", job.runner)
    memory = _memory(job.resources.memory) if job.resources.memory is not None else "-"
    _fact("resources", f"cpu {job.resources.cpu:g}, gpu {job.resources.gpu:g}, memory {memory}")
    _fact("timeout", f"{job.timeout:g} s" if job.timeout is not None else None)
    if job.isolated:
        _fact("environment", job.environment or "(not built yet)")
    _fact("run", job.run_id)
    _fact("host", job.host or None)
    _fact("pid", job.pid)
    _fact("started", job.started_at)
    _fact("ended", job.ended_at)
    _fact("wall seconds", _seconds(job.wall_seconds))
    _fact("CPU seconds", _seconds(job.cpu_seconds))
    _fact("peak memory", _memory(job.peak_memory_bytes))
    _fact("GPU seconds", _seconds(job.gpu_seconds))
    _fact("exit code", job.exit_code)
    if job.failure:
        _fact("failure", job.failure)


@app.command("logs")
def logs(
    ctx: typer.Context,
    job_id: str,
    follow: bool = typer.Option(
        False,
        "--follow",
        "-f",
        help="Keep printing output until the job ends; exit with its status.",
    ),
) -> None:
    """Print a job's output (stdout and stderr, in order)."""
    from kiln.training._job_control import job_logs
    from kiln.training._jobs import check_job_id

    kiln = context(ctx)
    number = check_job_id(job_id)
    if follow:
        job = _follow(kiln, number, stream=True)
        raise typer.Exit(exit_code_for(job))
    offset = 0
    while True:
        found = job_logs(number, offset, context=kiln)
        sys.stdout.write(found.text)
        if found.next_offset == offset:
            break
        offset = found.next_offset
    sys.stdout.flush()


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    job_id: str,
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="Wait until the job's processes are gone (default)."
    ),
    as_json: bool = JSON,
) -> None:
    """Cancel a job: its whole process tree is ended, and it is recorded cancelled."""
    from kiln.training._job_control import cancel_job, wait_job
    from kiln.training._job_executor import KILL_GRACE

    kiln = context(ctx)
    job = cancel_job(job_id, context=kiln)
    if wait:
        job = wait_job(job.id, timeout=KILL_GRACE + 15, context=kiln)
    if as_json:
        print_json(job.to_dict())
        return
    if job.is_finished:
        console.print(_summary(job), highlight=False, markup=False)
    else:
        console.print(
            f"cancel requested for job {job.id}; it is {job.status.value} still "
            f"(`kiln jobs show {job.id}`)",
            highlight=False,
        )
