"""Starting a rule's pipeline (a retrain, say) when the rule fires.

::

    trigger_pipeline(context, alert, rule, workdir=)
      params = rule.pipeline_params | {alert_id, monitor, rule}
      python -c 'kiln' --project P pipelines run TARGET --run-id ID --params-json PARAMS
        in ``workdir`` (default: this process's folder), in a session of its own,
        output to a temporary file; not waited for
      ──► the alert's details gain {"pipeline": {target, run_id, pid}}
      ──► an alert_deliveries row, sink "pipeline:TARGET": DELIVERED once the process
          started, FAILED (with the reason) when it could not start

The run is exactly what ``kiln pipelines run`` would do in that folder, as
the scheduler runs it (``kiln.pipelines._scheduler``): its own process, so
a pipeline's crash, memory or imports never reach the evaluation, pointed at
the same stores whatever its folder's kiln.toml says. The run id is chosen
here, so the alert names the run before it is recorded; whether the run
succeeded is on its record (``kiln pipelines show RUN_ID``). The pipeline
must take ``alert_id``, ``monitor`` and ``rule`` as parameters (or
``**params``). A thread of this process waits for the child, so it leaves
no zombie, and logs the end of its output when it fails.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from kiln.alerts import Alert, get_alert
from kiln.context import child_environment
from kiln.db.tables import AlertRow
from kiln.errors import InvalidInput, NotFound
from kiln.monitoring._deliveries import AlertDelivery, DeliveryStatus, record_delivery

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.monitoring._rules import AlertRule

__all__ = ["TriggeredRun", "start_pipeline", "trigger_pipeline"]

logger = logging.getLogger("kiln.monitoring.alerts")

#: How the child process enters the ``kiln`` command (``kiln.__main__`` may not exist).
_ENTRY = "from kiln.cli import main; main()"
#: Bytes of a failed child's output logged.
_TAIL_BYTES = 4096


@dataclass(frozen=True)
class TriggeredRun:
    """A pipeline process started for an alert: its run id, pid and the process itself."""

    target: str
    run_id: str
    pid: int
    workdir: str
    process: subprocess.Popen[bytes] = field(repr=False, compare=False)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to end (tests, scripts); its exit code."""
        return self.process.wait(timeout)


def _reap(process: subprocess.Popen[bytes], output: IO[bytes], target: str, run_id: str) -> None:
    try:
        code = process.wait()
        if code != 0:
            output.seek(max(0, output.seek(0, os.SEEK_END) - _TAIL_BYTES))
            tail = output.read().decode("utf-8", errors="replace").strip()
            logger.warning(
                "pipeline %s (run %s) for an alert exited with code %d: %s",
                target,
                run_id,
                code,
                tail,
            )
    finally:
        output.close()


def start_pipeline(
    context: Context,
    project: str,
    target: str,
    params: dict[str, Any],
    *,
    workdir: str | None = None,
    python: str | None = None,
) -> TriggeredRun:
    """Start ``kiln pipelines run target`` with ``params`` in ``workdir``; do not wait.

    Raises ``OSError`` when the process cannot start (a missing folder).
    """
    run_id = uuid.uuid4().hex
    folder = workdir or os.getcwd()
    command = [python or sys.executable, "-c", _ENTRY, "--project", project, "pipelines", "run"]
    command += [target, "--run-id", run_id, "--params-json", json.dumps(params, sort_keys=True)]
    # Closed by the reaper thread when the child ends, not in this block.
    output = tempfile.TemporaryFile(prefix="kiln-trigger-")  # noqa: SIM115
    try:
        process = subprocess.Popen(
            command,
            cwd=folder,
            env=child_environment(context, project),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C meant for the evaluation does not stop the run
        )
    except OSError:
        output.close()
        raise
    threading.Thread(
        target=_reap, args=(process, output, target, run_id), name="kiln-trigger", daemon=True
    ).start()
    return TriggeredRun(
        target=target, run_id=run_id, pid=process.pid, workdir=folder, process=process
    )


def _note_run(session: Session, project: str, alert_id: int, noted: dict[str, Any]) -> Alert:
    get_alert(session, project, alert_id)
    row = session.get(AlertRow, alert_id)
    if row is None:
        raise NotFound(f"alert {alert_id} does not exist in project {project!r}")
    details = json.loads(row.details or "{}")
    details["pipeline"] = noted
    row.details = json.dumps(details, sort_keys=True, default=str)
    session.flush()
    return get_alert(session, project, alert_id)


def trigger_pipeline(
    context: Context,
    alert: Alert,
    rule: AlertRule,
    *,
    workdir: str | None = None,
) -> tuple[Alert, AlertDelivery, TriggeredRun | None]:
    """Start the rule's pipeline for ``alert``; the alert (with the run noted) and the record."""
    if rule.pipeline is None:
        raise InvalidInput(f"rule {rule.name!r} has no pipeline to start", field="pipeline")
    sink = f"pipeline:{rule.pipeline}"
    params = dict(rule.pipeline_params) | {
        "alert_id": alert.id,
        "monitor": rule.monitor,
        "rule": rule.name,
    }
    try:
        run = start_pipeline(context, alert.project, rule.pipeline, params, workdir=workdir)
    except OSError as exc:
        where = workdir or os.getcwd()
        error = f"could not start {rule.pipeline} in {where}: {exc}"
        logger.warning("alert %d: %s", alert.id, error)
        failure: dict[str, Any] = {"target": rule.pipeline, "error": error}
        updated = context.db.run(_note_run, alert.project, alert.id, failure)
        delivery = context.db.run(
            record_delivery,
            alert.id,
            sink=sink,
            status=DeliveryStatus.FAILED,
            attempts=1,
            error=error,
        )
        return updated, delivery, None
    logger.info(
        "alert %d: started %s as pipeline run %s (pid %d)",
        alert.id,
        rule.pipeline,
        run.run_id,
        run.pid,
    )
    noted: dict[str, Any] = {
        "target": rule.pipeline,
        "run_id": run.run_id,
        "pid": run.pid,
        "workdir": run.workdir,
    }
    updated = context.db.run(_note_run, alert.project, alert.id, noted)
    delivery = context.db.run(
        record_delivery, alert.id, sink=sink, status=DeliveryStatus.DELIVERED, attempts=1
    )
    return updated, delivery, run
