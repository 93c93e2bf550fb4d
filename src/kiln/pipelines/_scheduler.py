"""``Scheduler``: the loop that claims due fire times and runs each in its own process.

::

    tick(now)
      │ settle children that exited (exit code + output tail), link the runs of the others
      │ sync_firings: firings whose run ended while no scheduler watched it
      │ claim_due_firings(now, scheduler id)        the lease (_firings.py)
      ▼
    python -c 'kiln' --project P pipelines run TARGET --run-id ID [--runner R] [--params-json]
      in the schedule's workdir, in a session of its own, output to a temporary file
    run_once(): one tick, then wait for its runs      (``kiln scheduler --once``)
    run_forever(stop_event): tick every ``interval``  (``kiln scheduler``, ``kiln server
      --scheduler``); on stop, wait ``stop_timeout`` for running children, then leave a
      note on the firings still going: any later tick settles them from their run records

Each run is a separate process so that a pipeline's crash, memory or imports
never reach the scheduler, and so that the run is exactly what
``kiln pipelines run`` would do in that folder.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, TYPE_CHECKING

from kiln.context import child_environment
from kiln.errors import InvalidInput
from kiln.pipelines._firings import DEFAULT_GRACE

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.pipelines._schedule_entities import ScheduleClaim, ScheduleFiring

__all__ = ["Scheduler"]

logger = logging.getLogger("kiln.pipelines.scheduler")

#: How the child process enters the ``kiln`` command (``kiln.__main__`` may not exist).
_ENTRY = "from kiln.cli import main; main()"
#: Bytes of a child's output read back for its firing's error.
_TAIL_BYTES = 8192


@dataclass
class _Child:
    claim: ScheduleClaim
    process: subprocess.Popen[bytes]
    output: IO[bytes]
    linked: bool = False
    started: float = field(default_factory=time.monotonic)


class Scheduler:
    """Runs the due fire times of every enabled schedule in the store of ``context``.

    ``interval`` is the seconds between two ticks of ``run_forever``;
    ``grace`` is how late a fire time may be claimed and still count as on
    time (default: a minute, or two intervals if longer); ``stop_timeout``
    is how long stopping waits for running pipelines. Several schedulers
    may share one store: the lease gives each fire time to one of them.
    """

    def __init__(
        self,
        context: Context | None = None,
        *,
        interval: float = 10.0,
        grace: timedelta | float | None = None,
        stop_timeout: float = 30.0,
        scheduler_id: str | None = None,
        python: str | None = None,
    ) -> None:
        if not isinstance(interval, int | float) or interval <= 0:
            raise InvalidInput(f"interval must be a positive number of seconds, got {interval!r}")
        if isinstance(grace, int | float):
            grace = timedelta(seconds=grace)
        self._context = context
        self.interval = float(interval)
        self.grace = grace if grace is not None else max(DEFAULT_GRACE, 2 * _seconds(interval))
        self.stop_timeout = float(stop_timeout)
        self.id = scheduler_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.python = python or sys.executable
        self._children: list[_Child] = []
        self._settled: list[int] = []  # firing ids settled since the last wait()

    @property
    def context(self) -> Context:
        if self._context is None:
            from kiln.context import get_context

            self._context = get_context()
        return self._context

    @property
    def running(self) -> int:
        """How many pipeline processes this scheduler started are still running."""
        return sum(1 for child in self._children if child.process.poll() is None)

    def tick(self, now: datetime | None = None) -> list[ScheduleClaim]:
        """Settle what ended, claim what is due at ``now`` (default: now) and start it."""
        from kiln.pipelines._firings import claim_due_firings, sync_firings

        db = self.context.db
        self._reap()
        synced = db.run(sync_firings)
        if synced:
            logger.info("scheduler %s: %d firing(s) brought up to their runs", self.id, synced)
        claims = db.run(claim_due_firings, now, self.id, grace=self.grace)
        for claim in claims:
            self._start(claim)
        return claims

    def wait(self, timeout: float | None = None) -> list[ScheduleFiring]:
        """Wait for the running pipeline processes (at most ``timeout`` s).

        Returns the firings this scheduler settled since the last ``wait``.
        """
        from kiln.pipelines._firings import get_firing

        deadline = None if timeout is None else time.monotonic() + timeout
        while self._children:
            self._reap()
            if not self._children or (deadline is not None and time.monotonic() >= deadline):
                break
            time.sleep(0.05)
        settled, self._settled = self._settled, []
        return [self.context.db.read(get_firing, firing_id) for firing_id in settled]

    def run_once(self, now: datetime | None = None) -> list[ScheduleFiring]:
        """One tick, then wait for the runs it started; the firings settled."""
        self.tick(now)
        return self.wait()

    def run_forever(self, stop: threading.Event | None = None) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set, then ``close()``.

        A tick that fails (the database is away, a bad record) is logged and
        the loop goes on.
        """
        stop = stop if stop is not None else threading.Event()
        logger.info(
            "scheduler %s: watching %s every %gs",
            self.id,
            self.context.db,
            self.interval,
        )
        try:
            while not stop.is_set():
                try:
                    self.tick()
                    self._settled.clear()  # the log lines report them; nobody waits here
                except Exception:
                    logger.exception("scheduler %s: tick failed; trying again", self.id)
                stop.wait(self._pause())
        finally:
            self.close()
            logger.info("scheduler %s: stopped", self.id)

    def close(self, timeout: float | None = None) -> None:
        """Wait for running pipelines (``stop_timeout`` by default), then leave the rest noted.

        A pipeline still running is not killed: its firing is linked to its
        run and carries a note, and any scheduler's next tick settles it from
        the run record when the run ends.
        """
        from kiln.pipelines._firings import link_firing_run, note_firing

        timeout = self.stop_timeout if timeout is None else timeout
        if self._children:
            logger.info(
                "scheduler %s: waiting up to %gs for %d running pipeline(s)",
                self.id,
                timeout,
                len(self._children),
            )
            self.wait(timeout)
        db = self.context.db
        for child in self._children:
            firing, run_id = child.claim.firing, child.claim.run_id
            note = (
                f"scheduler {self.id} stopped while this run was going (pid {child.process.pid}); "
                f"pipeline run {run_id} settles this firing when it ends"
            )
            try:
                db.run(link_firing_run, firing.id, run_id)
                db.run(note_firing, firing.id, note)
            except Exception:
                logger.exception("scheduler %s: could not note firing %d", self.id, firing.id)
            logger.warning(
                "scheduler %s: left %s/%s (run %s, pid %d) running",
                self.id,
                firing.project,
                firing.schedule,
                run_id,
                child.process.pid,
            )
            child.output.close()
            # Reap it when it ends (no zombie, no "still running" warning when it is collected).
            threading.Thread(target=child.process.wait, name="kiln-reaper", daemon=True).start()
        self._children = []

    # --- children -------------------------------------------------------------

    def _pause(self) -> float:
        """Seconds to the next tick: sooner while a child may still need linking."""
        if any(not child.linked for child in self._children):
            return min(self.interval, 1.0)
        return self.interval

    def _command(self, claim: ScheduleClaim) -> list[str]:
        schedule = claim.schedule
        command = [self.python, "-c", _ENTRY, "--project", schedule.project, "pipelines", "run"]
        command += [schedule.target, "--run-id", claim.run_id, "--runner", schedule.runner]
        if schedule.params:
            command += ["--params-json", json.dumps(schedule.params, sort_keys=True)]
        return command

    def _environment(self, claim: ScheduleClaim) -> dict[str, str]:
        """This environment, pointing the child at the same stores whatever its kiln.toml says."""
        return child_environment(self.context, claim.schedule.project)

    def _start(self, claim: ScheduleClaim) -> None:
        from kiln.pipelines._firings import settle_firing, start_firing

        db = self.context.db
        firing, schedule = claim.firing, claim.schedule
        # Closed when the child is settled or left running (close()), not in this block.
        output = tempfile.TemporaryFile(prefix="kiln-schedule-")  # noqa: SIM115
        try:
            process = subprocess.Popen(
                self._command(claim),
                cwd=schedule.workdir or None,
                env=self._environment(claim),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C meant for the scheduler does not kill runs
            )
        except OSError as exc:
            output.close()
            where = f" in {schedule.workdir}" if schedule.workdir else ""
            db.run(settle_firing, firing.id, None, exit_code=None, output=f"{exc}{where}")
            self._settled.append(firing.id)
            logger.error(
                "schedule %s/%s: fire time %s could not start: %s",
                schedule.project,
                schedule.name,
                firing.fire_time.isoformat(),
                exc,
            )
            return
        self._children.append(_Child(claim, process, output))
        db.run(start_firing, firing.id)
        logger.info(
            "schedule %s/%s: fire time %s started %s as pipeline run %s (pid %d)",
            schedule.project,
            schedule.name,
            firing.fire_time.isoformat(),
            schedule.target,
            claim.run_id,
            process.pid,
        )

    def _reap(self) -> None:
        """Settle the children that exited and link the others' runs."""
        from kiln.pipelines._firings import link_firing_run, settle_firing

        db = self.context.db
        still: list[_Child] = []
        for child in self._children:
            firing, run_id = child.claim.firing, child.claim.run_id
            code = child.process.poll()
            if code is None:
                if not child.linked:
                    child.linked = db.run(link_firing_run, firing.id, run_id)
                still.append(child)
                continue
            text = _tail(child.output)
            child.output.close()
            status = db.run(settle_firing, firing.id, run_id, exit_code=code, output=text)
            self._settled.append(firing.id)
            log = logger.info if status.value in ("SUCCEEDED", "PAUSED") else logger.warning
            log(
                "schedule %s/%s: fire time %s %s (run %s, exit code %d, %.1fs)",
                firing.project,
                firing.schedule,
                firing.fire_time.isoformat(),
                status.value,
                run_id,
                code,
                time.monotonic() - child.started,
            )
        self._children = still

    def __repr__(self) -> str:
        return f"Scheduler(id={self.id!r}, interval={self.interval:g})"


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _tail(output: IO[bytes]) -> str:
    output.flush()
    size = output.seek(0, os.SEEK_END)
    output.seek(max(0, size - _TAIL_BYTES))
    return output.read().decode("utf-8", errors="replace")
