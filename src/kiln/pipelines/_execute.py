"""Executing one step task, wherever a runner chooses to: this process or a worker.

Load the inputs (from a runner's in-memory values when it has them, else
through their materializers), call the function with retries, back-off and
a time limit per attempt, store the value through the first materializer
that handles it, and report the outcome with the captured output, CPU time
and peak memory. Errors become a FAILED outcome with the traceback; nothing
but ``KeyboardInterrupt`` escapes.
"""

from __future__ import annotations

import inspect
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kiln.lineage import collecting
from kiln.pipelines._capture import MemoryPeak, call_with_timeout, capture_fds, capture_python
from kiln.pipelines._entities import OutputRef
from kiln.pipelines._gate import PassThrough, is_gate
from kiln.pipelines._step import resolve_reference
from kiln.pipelines._task import InputRefs, StepOutcome, StepTask, Verdict

if TYPE_CHECKING:
    from kiln.artifacts import ArtifactStore
    from kiln.config import Settings
    from kiln.context import Context
    from kiln.pipelines._materializer import Materializers

__all__ = ["execute_task"]


def execute_task(
    task: StepTask,
    store: ArtifactStore,
    materializers: Materializers,
    *,
    values: MutableMapping[str, Any] | None = None,
    capture_descriptors: bool = False,
) -> StepOutcome:
    """Run ``task`` here and return its outcome.

    ``values`` maps digests to live objects a runner keeps in memory: inputs
    found there are not loaded again, and the output is added.
    ``capture_descriptors`` captures file descriptors 1 and 2 (for a worker
    process that owns them) instead of ``sys.stdout``/``sys.stderr``.
    """
    started = datetime.now(UTC)
    cpu_started = time.process_time()
    memory = MemoryPeak()
    memory.start()
    attempts = [0]
    output: OutputRef | None = None
    error: str | None = None
    trace: str | None = None
    verdict: Verdict | None = None
    capture = capture_fds() if capture_descriptors else capture_python()
    with capture as captured, collecting() as collected, _step_context(task.settings):
        try:
            fn = task.function
            if isinstance(fn, str):
                fn = resolve_reference(fn)
            arguments = {
                name: task.params[name]
                if name in task.params
                else _load(task.inputs[name], store, materializers, values)
                for name in task.order
            }
            bound = inspect.BoundArguments(inspect.signature(fn), arguments)
            value = _attempts(fn, bound.args, bound.kwargs, task, attempts)
            passed = task.inputs.get(value.argument) if isinstance(value, PassThrough) else None
            if isinstance(passed, OutputRef):
                output = passed
            else:
                if isinstance(value, PassThrough):
                    value = arguments[value.argument]
                materializer = materializers.for_value(value, task.step)
                digest = materializer.save(value, store)
                kind = type(value)
                output = OutputRef(
                    digest,
                    materializer.name,
                    materializer.version,
                    f"{kind.__module__}.{kind.__qualname__}",
                )
                if values is not None:
                    values[digest] = value
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            trace = traceback.format_exc()
            if is_gate(fn) and _is_validation_failure(exc):
                verdict = _verdict(exc, store)
                trace = None  # a verdict, not a crash: the alert holds the evidence
        except SystemExit as exc:
            error = f"{type(exc).__name__}: {exc}"
            trace = traceback.format_exc()
    return StepOutcome(
        invocation=task.invocation,
        succeeded=error is None,
        output=output,
        attempts=attempts[0],
        start_time=started,
        end_time=datetime.now(UTC),
        cpu_seconds=round(time.process_time() - cpu_started, 6),
        peak_memory_bytes=memory.peak(),
        stdout=captured.stdout,
        stderr=captured.stderr,
        error=error,
        traceback=trace,
        used=tuple(collected.used),
        made=tuple(collected.made),
        verdict=verdict,
    )


#: Contexts made for the settings of runs executed in this process, reused across steps
#: (opening a store per step would cost more than most steps).
_contexts: dict[str, Context] = {}
_contexts_lock = threading.Lock()


@contextmanager
def _step_context(settings: Settings | None) -> Iterator[None]:
    """Run the step's code with the run's context as ``kiln.get_context()``."""
    if settings is None:
        yield
        return
    from kiln.context import Context, get_context, using_context

    current = get_context()
    if current.settings == settings:
        context = current
    else:
        key = settings.model_dump_json()
        with _contexts_lock:
            context = _contexts.get(key) or _contexts.setdefault(key, Context(settings))
    with using_context(context):
        yield


def _is_validation_failure(exc: BaseException) -> bool:
    from kiln.data import ValidationFailed

    return isinstance(exc, ValidationFailed)


def _verdict(exc: Any, store: ArtifactStore) -> Verdict:
    """The failed checks of a gate, with the report stored as one HTML page."""
    report = exc.report
    try:
        digest: str | None = store.put_bytes(report.to_html().encode("utf-8")).digest
    except Exception:  # the verdict matters more than its page
        digest = None
    return Verdict(
        pause=exc.on_failure == "pause",
        summary=str(exc),
        failures=tuple(check.to_dict() for check in report.failures),
        report=report.to_dict(),
        report_digest=digest,
    )


def _load(
    refs: InputRefs,
    store: ArtifactStore,
    materializers: Materializers,
    values: MutableMapping[str, Any] | None,
) -> Any:
    def one(ref: OutputRef) -> Any:
        if values is not None and ref.digest in values:
            return values[ref.digest]
        return materializers.get(ref.materializer).load(store, ref.digest)

    if isinstance(refs, OutputRef):
        return one(refs)
    if isinstance(refs, dict):
        return {key: one(ref) for key, ref in refs.items()}
    if isinstance(refs, tuple):
        return tuple(one(ref) for ref in refs)
    return [one(ref) for ref in refs]


def _attempts(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    task: StepTask,
    attempts: list[int],
) -> Any:
    total = task.retries + 1
    for attempt in range(1, total + 1):
        attempts[0] = attempt
        message = (
            f"step {task.invocation!r} took longer than its timeout of {task.timeout or 0:g} s "
            f"(attempt {attempt} of {total})"
        )
        try:
            return call_with_timeout(fn, args, kwargs, task.timeout, message)
        except Exception as exc:
            if attempt == total or (is_gate(fn) and _is_validation_failure(exc)):
                raise
            delay = task.backoff * 2 ** (attempt - 1)
            print(
                f"[kiln] step {task.invocation!r}: attempt {attempt} of {total} failed "
                f"({type(exc).__name__}: {exc}); retrying in {delay:g} s",
                file=sys.stderr,
            )
            time.sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")
