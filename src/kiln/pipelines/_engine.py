"""Running a pipeline: plan, record, walk the DAG, hand tasks to the runner.

::

    run_pipeline(pipeline, params, runner=…)
      │ build the DAG (call the pipeline function), check it and the runner
      │ record the run RUNNING and every step PENDING          (_records)
      ▼
    _Execution.run()  loop until no step waits or runs:
      │ a step whose upstream failed → SKIPPED
      │ a step whose upstream all succeeded → task + cache key (_cache);
      │   begin_step: cache hit → SUCCEEDED (cached), else RUNNING and
      │   runner.submit(task) while its resources.cpu fit the runner's budget
      │ wait for the first running future → finish_step (and the cache entry)
      ▼
    finish_pipeline_run: SUCCEEDED, or FAILED naming the failed steps

Independent branches keep going after a failure; only what depends on a
failed step is skipped. All records are written here, in this process:
runners only execute tasks and store outputs in the artifact store.
"""

from __future__ import annotations

import logging
import os
import traceback
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput
from kiln.pipelines._cache import cache_key
from kiln.pipelines._entities import (
    OutputRef,
    PipelineFailed,
    PipelineRun,
    PipelineStatus,
    StepStatus,
)
from kiln.pipelines._graph import Node, spec_invocations
from kiln.pipelines._materializer import Materializers
from kiln.pipelines._records import (
    PlannedStep,
    begin_step,
    create_pipeline_run,
    finish_pipeline_run,
    finish_step,
    get_pipeline_run,
    skip_step,
)
from kiln.pipelines._runner import Runner, get_runner
from kiln.pipelines._source import source_digest
from kiln.pipelines._task import InputRefs, StepOutcome, StepTask

if TYPE_CHECKING:
    from kiln.artifacts import ArtifactStore
    from kiln.context import Context
    from kiln.db import Database
    from kiln.pipelines._pipeline import Pipeline

__all__ = ["LOG_LIMIT", "run_pipeline"]

logger = logging.getLogger("kiln.pipelines")

#: Characters of stdout/stderr kept in a step record; the whole log goes to a blob past it.
LOG_LIMIT = 64 * 1024


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
    if context is None:
        from kiln.context import get_context

        context = get_context()
    project = project if project is not None else context.settings.project
    graph, resolved = pipeline.build(params, config=config)
    nodes = graph.order()
    owned = isinstance(runner, str)
    if isinstance(runner, str):
        chosen = get_runner(runner)
    elif isinstance(runner, Runner):
        chosen = runner
    else:
        raise InvalidInput(f"runner must be a runner's name or a Runner, got {runner!r}")
    _check(nodes, chosen)
    db, store = context.db, context.artifacts
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
    execution = _Execution(run_id, project_id, nodes, chosen, db, store, no_cache=no_cache)
    status: PipelineStatus = PipelineStatus.FAILED
    error: str | None = "the run was interrupted"
    try:
        chosen.open()
        status, error = execution.run()
    except BaseException as exc:
        error = f"the run stopped: {type(exc).__name__}: {exc}"
        raise
    finally:
        try:
            if owned:
                chosen.close()
        finally:
            db.run(finish_pipeline_run, run_id, status, error)
    record = db.read(get_pipeline_run, project, run_id)
    logger.info("pipeline %s: run %s %s", pipeline.name, run_id, record.status.value)
    if raise_on_failure and record.status is PipelineStatus.FAILED:
        raise PipelineFailed(
            f"pipeline {pipeline.name!r} run {run_id} FAILED: {record.error}; the step records "
            "hold the tracebacks (PipelineFailed.run, or get_pipeline_run)",
            record,
        )
    return record


def _check_run_id(run_id: str) -> str:
    if not (
        isinstance(run_id, str) and len(run_id) == 32 and set(run_id) <= set("0123456789abcdef")
    ):
        raise InvalidInput(
            f"run_id must be 32 lower-case hex characters, got {run_id!r}", field="run_id"
        )
    return run_id


def pipeline_target(pipeline: Pipeline) -> str:
    """``module:qualname`` under which ``pipeline`` can be imported again, or ""."""
    import importlib

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


class _Execution:
    """The state of one run while its DAG is walked."""

    def __init__(
        self,
        run_id: str,
        project_id: int,
        nodes: list[Node],
        runner: Runner,
        db: Database,
        store: ArtifactStore,
        *,
        no_cache: bool,
    ) -> None:
        self.run_id = run_id
        self.project_id = project_id
        self.nodes = nodes
        self.runner = runner
        self.db = db
        self.store = store
        self.no_cache = no_cache
        self.materializers = Materializers.discover()
        location = store.backend.location
        self.location = location if "://" in location else os.path.abspath(location)
        self.state: dict[str, StepStatus] = {}
        self.outputs: dict[str, OutputRef] = {}
        self.errors: dict[str, str] = {}
        self.keys: dict[str, str] = {}
        self.started: dict[str, datetime] = {}
        self.sources: dict[Any, str] = {}
        self.source_memo: dict[Any, str] = {}

    def run(self) -> tuple[PipelineStatus, str | None]:
        waiting = list(self.nodes)
        running: dict[Future[StepOutcome], Node] = {}
        budget = self.runner.cpu_budget()
        busy = 0.0
        while waiting or running:
            progressed = True
            while progressed:
                progressed = False
                for node in list(waiting):
                    upstream = [self.state.get(up) for up in node.upstream]
                    if any(s in (StepStatus.FAILED, StepStatus.SKIPPED) for s in upstream):
                        self._skip(node)
                    elif not all(s is StepStatus.SUCCEEDED for s in upstream) or (
                        running and budget is not None and busy + node.step.resources.cpu > budget
                    ):
                        continue
                    elif not self._start(node):
                        future = self.runner.submit(self._task(node), self.store)
                        if future.done():
                            self._finish(node, future)
                        else:
                            running[future] = node
                            busy += node.step.resources.cpu
                    waiting.remove(node)
                    progressed = True
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                node = running.pop(future)
                busy -= node.step.resources.cpu
                self._finish(node, future)
        if waiting:  # cannot happen: every step fits the budget on its own
            raise AssertionError(f"steps left waiting: {[n.invocation for n in waiting]}")
        if not self.errors:
            return PipelineStatus.SUCCEEDED, None
        failed = "; ".join(f"step {name!r}: {error}" for name, error in self.errors.items())
        return PipelineStatus.FAILED, failed

    def _inputs(self, node: Node) -> dict[str, InputRefs]:
        inputs: dict[str, InputRefs] = {}
        for name, spec in node.inputs.items():
            if isinstance(spec, str):
                inputs[name] = self.outputs[spec]
            elif isinstance(spec, dict):
                inputs[name] = {key: self.outputs[up] for key, up in spec.items()}
            elif isinstance(spec, tuple):
                inputs[name] = tuple(self.outputs[up] for up in spec)
            else:
                inputs[name] = [self.outputs[up] for up in spec_invocations(spec)]
        return inputs

    def _task(self, node: Node) -> StepTask:
        step = node.step
        return StepTask(
            run_id=self.run_id,
            invocation=node.invocation,
            step=step.name,
            function=step.fn,
            order=node.order,
            params=node.params,
            inputs=self._inputs(node),
            retries=step.retries,
            backoff=step.backoff,
            timeout=step.timeout,
            resources=step.resources,
            artifact_location=self.location,
        )

    def _start(self, node: Node) -> bool:
        """Compute the key and begin the step; True when the cache answered it."""
        inputs = self._inputs(node)
        fn = node.step.fn
        if fn not in self.sources:
            self.sources[fn] = source_digest(fn, self.source_memo)
        key = cache_key(
            source=self.sources[fn], params=node.params, inputs=inputs, step=node.step.name
        )
        self.keys[node.invocation] = key
        hit = self.db.run(
            begin_step,
            self.run_id,
            node.invocation,
            project_id=self.project_id,
            cache_key=key,
            inputs={name: _refs_json(refs) for name, refs in inputs.items()},
            lookup=node.step.cache and not self.no_cache,
            available=self._available,
        )
        if hit is None:
            self.started[node.invocation] = datetime.now(UTC)
            logger.info("step %s: running", node.invocation)
            return False
        self.state[node.invocation] = StepStatus.SUCCEEDED
        self.outputs[node.invocation] = hit[0]
        logger.info("step %s: cached", node.invocation)
        return True

    def _available(self, outputs: tuple[OutputRef, ...]) -> bool:
        if len(outputs) != 1:
            return False
        try:
            for output in outputs:
                materializer = self.materializers.get(output.materializer)
                if materializer.version != output.version:
                    return False
                blobs = materializer.blobs(self.store, output.digest)
                if not all(self.store.exists(blob) for blob in blobs):
                    return False
        except Exception:  # an unreadable entry is a miss, never an error
            return False
        return True

    def _finish(self, node: Node, future: Future[StepOutcome]) -> None:
        try:
            outcome = future.result()
        except Exception as exc:
            started = self.started.get(node.invocation, datetime.now(UTC))
            outcome = _failed_outcome(node.invocation, started, exc)
        if outcome.succeeded and outcome.output is not None:
            self.state[node.invocation] = StepStatus.SUCCEEDED
            self.outputs[node.invocation] = outcome.output
        else:
            self.state[node.invocation] = StepStatus.FAILED
            self.errors[node.invocation] = outcome.error or "failed"
        self.db.run(
            finish_step,
            self.run_id,
            outcome,
            project_id=self.project_id,
            cache_key=self.keys.get(node.invocation),
            remember=node.step.cache,
            logs=(*self._log(outcome.stdout), *self._log(outcome.stderr)),
        )
        logger.info("step %s: %s", node.invocation, self.state[node.invocation].value)

    def _log(self, text: str) -> tuple[str, str | None]:
        if len(text) <= LOG_LIMIT:
            return text, None
        digest = self.store.put_bytes(text.encode("utf-8", errors="replace")).digest
        cut = len(text) - LOG_LIMIT
        return f"[… {cut} earlier characters are in blob {digest}]\n{text[cut:]}", digest

    def _skip(self, node: Node) -> None:
        failed = [
            up
            for up in node.upstream
            if self.state.get(up) in (StepStatus.FAILED, StepStatus.SKIPPED)
        ]
        self.state[node.invocation] = StepStatus.SKIPPED
        reason = f"not run: upstream step {', '.join(map(repr, failed))} did not succeed"
        self.db.run(skip_step, self.run_id, node.invocation, reason)
        logger.info("step %s: skipped", node.invocation)


def _refs_json(refs: InputRefs) -> Any:
    if isinstance(refs, OutputRef):
        return refs.digest
    if isinstance(refs, dict):
        return {key: ref.digest for key, ref in refs.items()}
    return [ref.digest for ref in refs]


def _failed_outcome(invocation: str, started: datetime, exc: BaseException) -> StepOutcome:
    return StepOutcome(
        invocation=invocation,
        succeeded=False,
        output=None,
        attempts=1,
        start_time=started,
        end_time=datetime.now(UTC),
        cpu_seconds=None,
        peak_memory_bytes=None,
        stdout="",
        stderr="",
        error=f"{type(exc).__name__}: {exc}",
        traceback="".join(traceback.format_exception(exc)),
    )
