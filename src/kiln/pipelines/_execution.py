"""Walking one run's DAG: start steps when their inputs are ready, record every change.

::

    _Execution.run()  loop until no step waits or runs:
      │ a step whose upstream failed → SKIPPED
      │ a step whose upstream is PAUSED → waits (the run ends PAUSED, a resume goes on)
      │ a step whose upstream all succeeded → task + cache key (_cache);
      │   begin: cache hit → SUCCEEDED (cached), else RUNNING and
      │   runner.submit(task) while its resources.cpu fit the runner's budget
      │ wait for the first running future → finish: the step record, its lineage
      ▼   edges and, for a gate whose checks failed, the alert — in one transaction
    (status, error): SUCCEEDED, PAUSED (a gate waits) or FAILED (naming the failed steps)

Independent branches keep going after a failure or a pause; only what
depends on it waits or is skipped. All records are written here, in the
calling process: runners only execute tasks and store outputs.
"""

from __future__ import annotations

import logging
import os
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from kiln.alerts import raise_alert
from kiln.lineage import Edge, Relation, add_edges
from kiln.lineage import Node as LineageNode
from kiln.pipelines._cache import cache_key
from kiln.pipelines._entities import OutputRef, PipelineStatus, StepStatus
from kiln.pipelines._graph import Node, spec_invocations
from kiln.pipelines._materializer import Materializers
from kiln.pipelines._records import CacheHit, begin_step, finish_step, skip_step
from kiln.pipelines._source import source_digest
from kiln.pipelines._task import InputRefs, StepOutcome, StepTask, Verdict, input_refs

if TYPE_CHECKING:
    from kiln.artifacts import ArtifactStore
    from kiln.context import Context
    from kiln.db import Database
    from kiln.pipelines._runner import Runner

__all__ = ["LOG_LIMIT", "Execution", "gate_alert_title"]

logger = logging.getLogger("kiln.pipelines")

#: Characters of stdout/stderr kept in a step record; the whole log goes to a blob past it.
LOG_LIMIT = 64 * 1024


class Execution:
    """The state of one run while its DAG is walked.

    ``done`` holds steps that already succeeded (a resumed run): their
    outputs are reused and they are not run again.
    """

    def __init__(
        self,
        *,
        run_id: str,
        pipeline: str,
        project: str,
        project_id: int,
        nodes: list[Node],
        runner: Runner,
        db: Database,
        store: ArtifactStore,
        no_cache: bool,
        context: Context | None = None,
        done: dict[str, OutputRef] | None = None,
    ) -> None:
        self.run_id = run_id
        self.pipeline = pipeline
        self.project = project
        self.project_id = project_id
        self.nodes = nodes
        self.runner = runner
        self.db = db
        self.store = store
        self.no_cache = no_cache
        self.context = context
        self.settings = context.settings if context is not None else None
        self.materializers = Materializers.discover()
        location = store.backend.location
        self.location = location if "://" in location else os.path.abspath(location)
        self.outputs: dict[str, OutputRef] = dict(done or {})
        self.state: dict[str, StepStatus] = dict.fromkeys(self.outputs, StepStatus.SUCCEEDED)
        self.errors: dict[str, str] = {}
        self.paused: dict[str, str] = {}
        self.keys: dict[str, str] = {}
        self.started: dict[str, datetime] = {}
        self.sources: dict[Any, str] = {}
        self.source_memo: dict[Any, str] = {}

    def run(self) -> tuple[PipelineStatus, str | None]:
        waiting = [node for node in self.nodes if node.invocation not in self.state]
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
                        future = self._submit(node)
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
        if waiting and not self.paused:  # cannot happen: every step fits the budget on its own
            raise AssertionError(f"steps left waiting: {[n.invocation for n in waiting]}")
        return self._verdict()

    def _verdict(self) -> tuple[PipelineStatus, str | None]:
        paused = "; ".join(
            f"gate {name!r} paused the run: {summary}" for name, summary in self.paused.items()
        )
        if self.errors:
            failed = "; ".join(f"step {name!r}: {error}" for name, error in self.errors.items())
            return PipelineStatus.FAILED, failed + (f"; {paused}" if paused else "")
        if self.paused:
            return PipelineStatus.PAUSED, (
                f"{paused}; look at the alert, then `kiln pipelines resume {self.run_id}` "
                "(check again) or add --accept (let the data through)"
            )
        return PipelineStatus.SUCCEEDED, None

    def _submit(self, node: Node) -> Future[StepOutcome]:
        """Hand the task to the runner; a runner executing in this process sees the run's
        context as ``kiln.get_context()``."""
        if self.context is None:
            return self.runner.submit(self._task(node), self.store)
        from kiln.context import using_context

        with using_context(self.context):
            return self.runner.submit(self._task(node), self.store)

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
            settings=self.settings,
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
            _begin,
            self.run_id,
            node.invocation,
            project_id=self.project_id,
            cache_key=key,
            inputs={name: _refs_json(refs) for name, refs in inputs.items()},
            lookup=node.step.cache and not self.no_cache,
            available=self._available,
            edges=lambda hit: self._edges(node, hit.outputs[0], (), (), hit.source),
        )
        if hit is None:
            self.started[node.invocation] = datetime.now(UTC)
            logger.info("step %s: running", node.invocation)
            return False
        self.state[node.invocation] = StepStatus.SUCCEEDED
        self.outputs[node.invocation] = hit.outputs[0]
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

    def _edges(
        self,
        node: Node,
        output: OutputRef | None,
        used: tuple[LineageNode, ...],
        made: tuple[LineageNode, ...],
        cached_from: tuple[str, str] | None = None,
    ) -> list[Edge]:
        """What this step run read and made, as lineage edges."""
        me = LineageNode.step_run(self.run_id, node.invocation)
        read = {ref.digest for refs in self._inputs(node).values() for ref in input_refs(refs)}
        edges = [Edge(LineageNode.artifact(digest), me, Relation.INPUT) for digest in sorted(read)]
        if output is not None and output.digest not in read:  # a gate passes its input on
            edges.append(Edge(me, LineageNode.artifact(output.digest), Relation.OUTPUT))
        edges += [Edge(used_node, me, Relation.INPUT) for used_node in used]
        edges += [Edge(me, made_node, Relation.OUTPUT) for made_node in made]
        if cached_from is not None and cached_from != (self.run_id, node.invocation):
            source = LineageNode.step_run(*cached_from)
            edges.append(Edge(source, me, Relation.CACHED_FROM))
        return edges

    def _finish(self, node: Node, future: Future[StepOutcome]) -> None:
        try:
            outcome = future.result()
        except Exception as exc:
            started = self.started.get(node.invocation, datetime.now(UTC))
            outcome = _failed_outcome(node.invocation, started, exc)
        verdict = outcome.verdict if not outcome.succeeded else None
        if outcome.succeeded and outcome.output is not None:
            self.state[node.invocation] = StepStatus.SUCCEEDED
            self.outputs[node.invocation] = outcome.output
        elif verdict is not None and verdict.pause:
            self.state[node.invocation] = StepStatus.PAUSED
            self.paused[node.invocation] = verdict.summary
        else:
            self.state[node.invocation] = StepStatus.FAILED
            self.errors[node.invocation] = outcome.error or "failed"
        self.db.run(
            _finish,
            self.run_id,
            outcome,
            project=self.project,
            project_id=self.project_id,
            cache_key=self.keys.get(node.invocation),
            remember=node.step.cache,
            logs=(*self._log(outcome.stdout), *self._log(outcome.stderr)),
            edges=self._edges(node, outcome.output, outcome.used, outcome.made),
            alert=None if verdict is None else self._alert(node, verdict),
        )
        logger.info("step %s: %s", node.invocation, self.state[node.invocation].value)

    def _alert(self, node: Node, verdict: Verdict) -> dict[str, Any]:
        return {
            "kind": "data_validation",
            "severity": "critical",
            "title": gate_alert_title(self.pipeline, self.run_id, node.invocation, verdict),
            "subject_kind": "step_run",
            "subject_id": f"{self.run_id}/{node.invocation}",
            "details": {
                "pipeline": self.pipeline,
                "run_id": self.run_id,
                "invocation": node.invocation,
                "on_failure": "pause" if verdict.pause else "fail",
                "summary": verdict.summary,
                "failures": list(verdict.failures),
                "report": verdict.report,
            },
            "report_digest": verdict.report_digest,
        }

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


def gate_alert_title(pipeline: str, run_id: str, invocation: str, verdict: Verdict) -> str:
    action = "paused" if verdict.pause else "failed"
    count = len(verdict.failures)
    return (
        f"pipeline {pipeline!r} run {run_id[:8]}: gate {invocation!r} {action} the run "
        f"({count} check{'s' if count != 1 else ''} failed)"
    )


def _begin(
    session: Session,
    /,
    run_id: str,
    invocation: str,
    *,
    edges: Any,
    **options: Any,
) -> CacheHit | None:
    """Begin a step; on a cache hit, also record its lineage (nothing else will)."""
    hit = begin_step(session, run_id, invocation, **options)
    if hit is not None:
        add_edges(session, options["project_id"], edges(hit))
    return hit


def _finish(
    session: Session,
    /,
    run_id: str,
    outcome: StepOutcome,
    *,
    project: str,
    project_id: int,
    edges: list[Edge],
    alert: dict[str, Any] | None,
    **options: Any,
) -> None:
    """A step's record, its lineage edges and its gate's alert, in one transaction."""
    paused = outcome.verdict is not None and outcome.verdict.pause and not outcome.succeeded
    finish_step(session, run_id, outcome, project_id=project_id, paused=paused, **options)
    add_edges(session, project_id, edges)
    if alert is not None:
        raise_alert(session, project, **alert)


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
