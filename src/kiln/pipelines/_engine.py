"""Running and resuming a pipeline: plan, record, hand the DAG walk to an ``Execution``.

::

    run_pipeline(pipeline, params, runner=…)
      │ build the DAG (call the pipeline function), check it and the runner
      │ record the run RUNNING and every step PENDING               (_records)
      ▼
    Execution.run()   (_execution.py)  steps, cache, lineage, gates
      ▼
    finish_pipeline_run: SUCCEEDED, PAUSED (a gate waits) or FAILED

    resume_pipeline(run_id, accept=…)
      │ rebuild the DAG from the recorded target and params; it must have the
      │ same steps. Steps that SUCCEEDED keep their outputs; a PAUSED gate is
      │ let through (accept: its input becomes its output, the alert ACCEPTED)
      │ or checked again; every other step goes back to PENDING
      ▼
    Execution.run() on the same run record, then finish_pipeline_run
"""

from __future__ import annotations

import getpass
import importlib
import logging
import os
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from kiln.alerts import AlertStatus, list_alerts, resolve_alert
from kiln.errors import Conflict, InvalidInput
from kiln.pipelines._entities import (
    OutputRef,
    PipelineFailed,
    PipelineRun,
    PipelineStatus,
    StepStatus,
)
from kiln.pipelines._execution import Execution
from kiln.pipelines._graph import Node
from kiln.pipelines._materializer import Materializers
from kiln.pipelines._records import (
    PlannedStep,
    create_pipeline_run,
    finish_pipeline_run,
    get_pipeline_run,
    reopen_pipeline_run,
)
from kiln.pipelines._runner import Runner, get_runner
from kiln.pipelines._targets import load_pipeline

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.pipelines._pipeline import Pipeline

__all__ = ["pipeline_target", "resume_pipeline", "run_pipeline"]

logger = logging.getLogger("kiln.pipelines")


def run_pipeline(
    pipeline: Pipeline,
    params: dict[str, Any] | Any = None,
    *,
    config: str | os.PathLike[str] | None = None,
    runner: str | Runner = "sequential",
    no_cache: bool = False,
    raise_on_failure: bool = True,
    context: Context | None = None,
    project: str | None = None,
    run_id: str | None = None,
) -> PipelineRun:
    """Run ``pipeline`` and return its record; see :meth:`Pipeline.run`.

    ``run_id`` (32 lower-case hex characters) lets a caller that must name
    the run before it starts (the scheduler) choose its id.
    """
    context = _context(context)
    project = project if project is not None else context.settings.project
    graph, resolved = pipeline.build(params, config=config)
    nodes = graph.order()
    chosen, owned = _runner(runner)
    _check(nodes, chosen)
    db = context.db
    run_id = _check_run_id(run_id) if run_id is not None else uuid.uuid4().hex
    project_id = db.run(
        create_pipeline_run,
        project,
        run_id=run_id,
        pipeline=pipeline.name,
        runner=chosen.name,
        params=resolved,
        no_cache=no_cache,
        target=pipeline_target(pipeline),
        workdir=os.getcwd(),
        steps=[
            PlannedStep(
                invocation=node.invocation,
                step=node.step.name,
                position=node.position,
                params=node.params,
                upstream=node.upstream,
                resources=node.step.resources.to_json(),
            )
            for node in nodes
        ],
    )
    logger.info("pipeline %s: run %s started on the %s runner", pipeline.name, run_id, chosen.name)
    execution = Execution(
        run_id=run_id,
        pipeline=pipeline.name,
        project=project,
        project_id=project_id,
        nodes=nodes,
        runner=chosen,
        db=db,
        store=context.artifacts,
        no_cache=no_cache,
        context=context,
    )
    return _drive(execution, owned=owned, raise_on_failure=raise_on_failure)


def resume_pipeline(
    run_id: str,
    *,
    accept: bool = False,
    runner: str | Runner = "sequential",
    no_cache: bool = False,
    raise_on_failure: bool = True,
    context: Context | None = None,
    project: str | None = None,
    user: str | None = None,
) -> PipelineRun:
    """Continue a PAUSED or FAILED run, reusing what already succeeded.

    The pipeline is rebuilt from the run's recorded ``target`` (imported
    from its ``workdir``) and parameters, and must have the same step
    invocations. A PAUSED gate is checked again, or with ``accept=True`` let
    through: its input becomes its output and its alert is ACCEPTED by
    ``user``. FAILED, SKIPPED and waiting steps run again (through the cache
    as usual). The same run record goes on; its ``resumes`` count grows.
    """
    context = _context(context)
    project = project if project is not None else context.settings.project
    db = context.db
    record = db.read(get_pipeline_run, project, run_id)
    if record.status not in (PipelineStatus.PAUSED, PipelineStatus.FAILED):
        raise Conflict(
            f"pipeline run {run_id} is {record.status.value}; only PAUSED or FAILED runs can be "
            "resumed"
        )
    if not record.target:
        raise Conflict(
            f"pipeline run {run_id} cannot be resumed: its pipeline was defined where it cannot be "
            "imported again (in __main__ or inside a function); define it at module level of an "
            "importable module"
        )
    pipeline = load_pipeline(record.target, record.workdir or None)
    graph, _ = pipeline.build(record.params)
    nodes = graph.order()
    _same_steps(record, nodes)
    chosen, owned = _runner(runner)
    _check(nodes, chosen)
    user = user if user is not None else _user()
    done = {
        step.invocation: step.outputs[0]
        for step in record.steps
        if step.status is StepStatus.SUCCEEDED and step.outputs
    }
    paused = [step.invocation for step in record.steps if step.status is StepStatus.PAUSED]
    accepted: dict[str, tuple[OutputRef, str]] = {}
    if accept:
        by_name = {node.invocation: node for node in nodes}
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        for invocation in paused:
            output = _passed_through(by_name[invocation], done, context)
            note = f"[kiln] failed checks accepted by {user or 'unknown'} on resume at {when}"
            accepted[invocation] = (output, note)
            done[invocation] = output
    project_id = db.run(
        _reopen,
        project,
        run_id,
        keep=sorted(set(done) - set(accepted)),
        accepted=accepted,
        paused=paused,
        user=user,
    )
    logger.info("pipeline %s: run %s resumed (accept=%s)", pipeline.name, run_id, accept)
    execution = Execution(
        run_id=run_id,
        pipeline=pipeline.name,
        project=project,
        project_id=project_id,
        nodes=nodes,
        runner=chosen,
        db=db,
        store=context.artifacts,
        no_cache=no_cache,
        context=context,
        done=done,
    )
    return _drive(execution, owned=owned, raise_on_failure=raise_on_failure)


def _drive(execution: Execution, *, owned: bool, raise_on_failure: bool) -> PipelineRun:
    """Walk the DAG with the runner, then end the run record whatever happened."""
    runner, db = execution.runner, execution.db
    status: PipelineStatus = PipelineStatus.FAILED
    error: str | None = "the run was interrupted"
    try:
        runner.open()
        status, error = execution.run()
    except BaseException as exc:
        error = f"the run stopped: {type(exc).__name__}: {exc}"
        raise
    finally:
        try:
            if owned:
                runner.close()
        finally:
            db.run(finish_pipeline_run, execution.run_id, status, error)
    record = db.read(get_pipeline_run, execution.project, execution.run_id)
    logger.info("pipeline %s: run %s %s", record.pipeline, record.id, record.status.value)
    if raise_on_failure and record.status is PipelineStatus.FAILED:
        raise PipelineFailed(
            f"pipeline {record.pipeline!r} run {record.id} FAILED: {record.error}; the step "
            "records hold the tracebacks (PipelineFailed.run, or get_pipeline_run)",
            record,
        )
    return record


def _reopen(
    session: Session,
    project: str,
    run_id: str,
    *,
    keep: list[str],
    accepted: dict[str, tuple[OutputRef, str]],
    paused: list[str],
    user: str,
) -> int:
    """Reopen the run and close the alerts of its paused gates; returns the project's id."""
    reopen_pipeline_run(session, run_id, keep=keep, accepted=accepted)
    for invocation in paused:
        for alert in list_alerts(
            session,
            project,
            status=AlertStatus.OPEN,
            subject_kind="step_run",
            subject_id=f"{run_id}/{invocation}",
        ):
            if invocation in accepted:
                resolve_alert(
                    session,
                    project,
                    alert.id,
                    status=AlertStatus.ACCEPTED,
                    by=user,
                    resolution="accepted on resume: the data was let through as it is",
                )
            else:
                resolve_alert(
                    session,
                    project,
                    alert.id,
                    status=AlertStatus.RESOLVED,
                    by=user,
                    resolution="checked again on resume (a new alert follows if it fails again)",
                )
    from kiln.auth import project_id

    return project_id(session, project)


def _passed_through(node: Node, done: dict[str, OutputRef], context: Context) -> OutputRef:
    """The output an accepted gate gets: its ``data`` input, unchanged."""
    spec = node.inputs.get("data")
    if isinstance(spec, str) and spec in done:
        return done[spec]
    if "data" in node.params:  # a stored version named by a parameter
        materializer = Materializers.discover().get("json")
        digest = materializer.save(node.params["data"], context.artifacts)
        return OutputRef(digest, materializer.name, materializer.version, "builtins.str")
    raise Conflict(
        f"gate {node.invocation!r} cannot be accepted: its input has no stored output; resume "
        "without --accept to run it again"
    )


def _same_steps(record: PipelineRun, nodes: list[Node]) -> None:
    recorded = {step.invocation for step in record.steps}
    now = {node.invocation for node in nodes}
    if recorded != now:
        added = ", ".join(sorted(now - recorded)) or "none"
        removed = ", ".join(sorted(recorded - now)) or "none"
        raise Conflict(
            f"pipeline run {record.id} cannot be resumed: the pipeline's steps changed since it "
            f"ran (new: {added}; gone: {removed}); start a new run"
        )


def _context(context: Context | None) -> Context:
    if context is not None:
        return context
    from kiln.context import get_context

    return get_context()


def _runner(runner: str | Runner) -> tuple[Runner, bool]:
    """The runner to use, and whether this call owns it (and closes it)."""
    if isinstance(runner, str):
        return get_runner(runner), True
    if isinstance(runner, Runner):
        return runner, False
    raise InvalidInput(f"runner must be a runner's name or a Runner, got {runner!r}")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _check_run_id(run_id: str) -> str:
    hexdigits = set("0123456789abcdef")
    if not (isinstance(run_id, str) and len(run_id) == 32 and set(run_id) <= hexdigits):
        raise InvalidInput(
            f"run_id must be 32 lower-case hex characters, got {run_id!r}", field="run_id"
        )
    return run_id


def pipeline_target(pipeline: Pipeline) -> str:
    """``module:qualname`` under which ``pipeline`` can be imported again, or ""."""
    module_name = getattr(pipeline.fn, "__module__", None)
    qualname = getattr(pipeline.fn, "__qualname__", "")
    if not module_name or module_name == "__main__" or "<" in qualname:
        return ""
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return ""
    return f"{module_name}:{qualname}" if found is pipeline else ""


def _check(nodes: list[Node], runner: Runner) -> None:
    budget = runner.cpu_budget()
    checked: set[int] = set()
    for node in nodes:
        if id(node.step) in checked:
            continue
        checked.add(id(node.step))
        runner.check(node.step)
        cpu = node.step.resources.cpu
        if budget is not None and cpu > budget:
            raise InvalidInput(
                f"step {node.step.name!r} asks for {cpu:g} CPUs and the {runner.name} runner has "
                f"{budget:g}; lower resources.cpu or give the runner more workers"
            )
