"""What a runner receives (``StepTask``) and returns (``StepOutcome``) for one step.

Both are plain, picklable values: a runner may execute the task in this
process, in a worker process or on another machine. Inputs travel as
artifact references, never as values; the executing side loads them from
the artifact store at ``artifact_location`` and stores the output there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kiln.pipelines._entities import OutputRef
from kiln.pipelines._resources import Resources

if TYPE_CHECKING:
    from kiln.config import Settings
    from kiln.lineage import Node

__all__ = ["InputRefs", "StepOutcome", "StepTask", "Verdict", "input_refs"]

#: One input argument: an output, or a list, tuple or str-keyed dict of outputs.
InputRefs = OutputRef | list[OutputRef] | tuple[OutputRef, ...] | dict[str, OutputRef]


@dataclass(frozen=True, slots=True)
class StepTask:
    """One step invocation to execute, with everything needed to do it anywhere."""

    run_id: str
    invocation: str
    step: str
    #: The function itself, or ``"module:qualname"`` for runners that import it elsewhere.
    function: Callable[..., Any] | str
    #: Argument names in signature order; each is in ``params`` or in ``inputs``.
    order: tuple[str, ...]
    params: dict[str, Any]
    inputs: dict[str, InputRefs]
    retries: int
    backoff: float
    timeout: float | None
    resources: Resources
    #: Where the artifact store is (a folder or an fsspec URL).
    artifact_location: str
    #: The run's settings: the step's own code (``kiln.data.load``, ``kiln.start_run``)
    #: uses their stores and project. None: the executing process's defaults.
    settings: Settings | None = None

    def deadline_seconds(self, grace: float) -> float | None:
        """The longest all attempts and back-offs can take, plus ``grace``; None: no limit."""
        if self.timeout is None:
            return None
        waits = sum(self.backoff * 2.0**attempt for attempt in range(self.retries))
        return float(self.timeout * (self.retries + 1) + waits + grace)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A quality gate's failed checks: what the engine turns into a pause or a failure."""

    #: True: PAUSE the step (``on_failure="pause"``); False: FAIL it.
    pause: bool
    #: One line naming the failed checks.
    summary: str
    #: The failed checks (``Check.to_dict()``), with their evidence.
    failures: tuple[dict[str, Any], ...]
    #: The whole validation report (``ValidationReport.to_dict()``).
    report: dict[str, Any]
    #: Blob of the report's self-contained HTML page.
    report_digest: str | None


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What executing a task gave: the stored output or the error, logs and usage.

    ``used`` and ``made`` are the lineage nodes the step's code reported
    reading and making (dataset versions, tracking runs, model versions);
    ``verdict`` is set when a quality gate's checks failed.
    """

    invocation: str
    succeeded: bool
    output: OutputRef | None
    attempts: int
    start_time: datetime
    end_time: datetime
    cpu_seconds: float | None
    peak_memory_bytes: int | None
    stdout: str
    stderr: str
    error: str | None
    traceback: str | None
    used: tuple[Node, ...] = ()
    made: tuple[Node, ...] = ()
    verdict: Verdict | None = None


def input_refs(refs: InputRefs) -> Iterator[OutputRef]:
    """Every output reference in one input argument."""
    if isinstance(refs, OutputRef):
        yield refs
    elif isinstance(refs, dict):
        yield from refs.values()
    else:
        yield from refs
