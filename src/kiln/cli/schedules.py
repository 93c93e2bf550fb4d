"""``kiln pipelines schedules``: cron schedules of pipelines; ``kiln scheduler`` runs them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from kiln.cli._app import context
from kiln.cli._output import console, err_console, print_json, print_records

if TYPE_CHECKING:
    from kiln.pipelines import Schedule, ScheduleFiring

NAME = "schedules"
HELP = "Cron schedules of pipelines: create, list, show, enable, disable, delete."
app = typer.Typer(no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
SCHEDULE_COLUMNS = ["name", "target", "cron", "timezone", "catch_up", "enabled", "next_fire_at"]
FIRING_COLUMNS = ["fire_time", "status", "pipeline_run_id", "claimed_by", "finished_at", "error"]


def register(root: typer.Typer) -> None:
    root.command("scheduler")(scheduler)


def _when(schedule: Schedule) -> str:
    if schedule.next_fire_at is None:
        return "disabled"
    from zoneinfo import ZoneInfo

    local = schedule.next_fire_at.astimezone(ZoneInfo(schedule.timezone))
    return f"next at {local:%Y-%m-%d %H:%M %Z} ({schedule.next_fire_at:%Y-%m-%d %H:%M} UTC)"


def _report(schedule: Schedule, verb: str, *, as_json: bool) -> None:
    if as_json:
        print_json(schedule)
        return
    console.print(
        f"schedule [bold]{schedule.name}[/] {verb}: {schedule.target} on '{schedule.cron}' "
        f"({schedule.timezone}), {_when(schedule)}",
        highlight=False,
    )


@app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The schedule's name, unique in the project."),
    target: str = typer.Argument(..., help="module:function of the pipeline."),
    cron: str = typer.Option(
        ..., "--cron", help="minute hour day-of-month month day-of-week, e.g. '0 3 * * *'."
    ),
    timezone: str = typer.Option("UTC", "--timezone", help="IANA zone the cron is read in."),
    catch_up: str = typer.Option(
        "latest", "--catch-up", help="Missed fire times: skip, latest or all."
    ),
    runner: str = typer.Option("sequential", "--runner", help="sequential, parallel, …"),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="key=value (value read as YAML); repeatable; beats --config."
    ),
    config: Path | None = typer.Option(None, "--config", help="YAML file of parameters."),
    workdir: Path | None = typer.Option(
        None, "--workdir", help="Folder the target imports from (default: this one)."
    ),
    disabled: bool = typer.Option(False, "--disabled", help="Create it disabled."),
    as_json: bool = JSON,
) -> None:
    """Schedule a pipeline on a cron expression."""
    import getpass

    from kiln.cli.pipelines import _params
    from kiln.pipelines import create_schedule
    from kiln.pipelines._params import load_config

    kiln = context(ctx)
    params = (load_config(config) if config is not None else {}) | _params(param)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    schedule = kiln.db.run(
        create_schedule,
        kiln.settings.project,
        name=name,
        target=target,
        cron=cron,
        timezone=timezone,
        catch_up=catch_up,
        runner=runner,
        params=params,
        workdir=str((workdir or Path.cwd()).resolve()),
        user=user,
        enabled=not disabled,
    )
    _report(schedule, "created", as_json=as_json)


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List the project's schedules."""
    from kiln.pipelines import list_schedules

    kiln = context(ctx)
    found = kiln.db.read(list_schedules, kiln.settings.project)
    print_records(found, SCHEDULE_COLUMNS, as_json=as_json)


@app.command("show")
def show(
    ctx: typer.Context,
    name: str,
    firings: int = typer.Option(10, "--firings", "-n", min=1, max=1000, help="Recent firings."),
    as_json: bool = JSON,
) -> None:
    """Show a schedule and its recent firings."""
    from kiln.pipelines import get_schedule, list_firings

    kiln = context(ctx)
    project = kiln.settings.project
    schedule = kiln.db.read(get_schedule, project, name)
    recent: list[ScheduleFiring] = kiln.db.read(list_firings, project, name, limit=firings)
    if as_json:
        print_json({"schedule": schedule, "firings": recent})
        return
    _report(schedule, "enabled" if schedule.enabled else "disabled", as_json=False)
    workdir = schedule.workdir or "(the scheduler's)"
    console.print(
        f"catch-up {schedule.catch_up.value}, runner {schedule.runner}, workdir {workdir}",
        highlight=False,
    )
    for key, value in sorted(schedule.params.items()):
        console.print(f"param {key}: {value!r}", highlight=False)
    if recent:
        print_records(recent, FIRING_COLUMNS, title="recent firings", as_json=False)
    else:
        console.print("no firings yet")


def _set_enabled(ctx: typer.Context, name: str, enabled: bool, as_json: bool) -> None:
    from kiln.pipelines import update_schedule

    kiln = context(ctx)
    schedule = kiln.db.run(update_schedule, kiln.settings.project, name, enabled=enabled)
    _report(schedule, "enabled" if enabled else "disabled", as_json=as_json)


@app.command("enable")
def enable(ctx: typer.Context, name: str, as_json: bool = JSON) -> None:
    """Enable a schedule; it next fires at its first cron time from now (no catch-up)."""
    _set_enabled(ctx, name, True, as_json)


@app.command("disable")
def disable(ctx: typer.Context, name: str, as_json: bool = JSON) -> None:
    """Disable a schedule; runs it started go on."""
    _set_enabled(ctx, name, False, as_json)


@app.command("delete")
def delete(ctx: typer.Context, name: str, as_json: bool = JSON) -> None:
    """Delete a schedule and its firings; the pipeline runs it started stay."""
    from kiln.pipelines import delete_schedule

    kiln = context(ctx)
    kiln.db.run(delete_schedule, kiln.settings.project, name)
    if as_json:
        print_json({"deleted": name, "project": kiln.settings.project})
    else:
        console.print(f"schedule [bold]{name}[/] deleted", highlight=False)


def scheduler(
    ctx: typer.Context,
    once: bool = typer.Option(
        False, "--once", help="Run what is due now, wait for it to finish, and exit."
    ),
    interval: float = typer.Option(10.0, "--interval", min=0.1, help="Seconds between polls."),
    stop_timeout: float = typer.Option(
        30.0, "--stop-timeout", min=0, help="Seconds to wait for running pipelines on stop."
    ),
    as_json: bool = typer.Option(False, "--json", help="With --once: print the firings as JSON."),
) -> None:
    """Run the pipelines of every project's schedules when they are due."""
    import signal
    import threading
    from types import FrameType

    from kiln.pipelines import Scheduler

    kiln = context(ctx)
    _log_to_stderr(kiln.settings.log_level)
    runner = Scheduler(kiln, interval=interval, stop_timeout=stop_timeout)
    if once:
        settled = runner.run_once()
        if as_json:
            print_json(settled)
        elif settled:
            print_records(settled, ["schedule", "project", *FIRING_COLUMNS], as_json=False)
        else:
            console.print("no schedule was due")
        return
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            err_console.print(
                f"still stopping: waiting up to {stop_timeout:g}s for running pipelines"
            )
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    err_console.print(
        f"scheduler {runner.id} polling every {interval:g}s; Ctrl-C to stop", highlight=False
    )
    runner.run_forever(stop)


def _log_to_stderr(level: str) -> None:
    """The scheduler's log lines (what it starts, how each run ended) on stderr."""
    import logging.config

    from kiln.server.logging_config import log_config

    logging.config.dictConfig(log_config(level))
