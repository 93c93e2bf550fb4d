"""Plain domain objects of pipelines (never ORM rows), and the pipeline errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from kiln.errors import KilnError

__all__ = [
    "OutputRef",
    "PipelineFailed",
    "PipelineRun",
    "PipelineStatus",
    "StepCrashed",
    "StepRun",
    "StepStatus",
    "StepTimeout",
]


class PipelineStatus(StrEnum):
    """Where a pipeline run is. PAUSED: a quality gate failed and waits for a person."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    PAUSED = "PAUSED"


class StepStatus(StrEnum):
    """Where one step invocation is.

    SKIPPED: an upstream step failed, so it never ran. PAUSED: a quality gate
    whose checks failed, waiting for ``resume`` (accept, or check again).
    """

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    PAUSED = "PAUSED"


@dataclass(frozen=True, slots=True)
class OutputRef:
    """A stored step output: the root blob's digest and the materializer that reads it."""

    digest: str
    materializer: str
    version: str
    #: The Python type the step returned (``pandas.core.frame.DataFrame``).
    type: str

    def to_json(self) -> dict[str, str]:
        return {
            "digest": self.digest,
            "materializer": self.materializer,
            "version": self.version,
            "type": self.type,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutputRef:
        return cls(
            digest=str(data["digest"]),
            materializer=str(data["materializer"]),
            version=str(data["version"]),
            type=str(data.get("type", "")),
        )


@dataclass(frozen=True, slots=True)
class StepRun:
    """The record of one step invocation in a pipeline run.

    ``stdout``/``stderr`` hold the captured output, cut to its last
    characters when long; ``stdout_digest``/``stderr_digest`` then name the
    blob with the whole log. ``peak_memory_bytes`` is the peak resident
    memory of the process that ran the step, while it ran.
    """

    id: int
    run_id: str
    invocation: str
    step: str
    position: int
    status: StepStatus
    cached: bool
    cache_key: str | None
    params: dict[str, Any]
    upstream: tuple[str, ...]
    inputs: dict[str, Any]
    outputs: tuple[OutputRef, ...]
    resources: dict[str, Any]
    attempts: int
    start_time: datetime | None
    end_time: datetime | None
    duration_seconds: float | None
    cpu_seconds: float | None
    peak_memory_bytes: int | None
    stdout: str
    stderr: str
    stdout_digest: str | None
    stderr_digest: str | None
    error: str | None
    traceback: str | None


@dataclass(frozen=True, slots=True)
class PipelineRun:
    """The record of one pipeline run; ``steps`` in call order (empty in listings)."""

    id: str
    project: str
    pipeline: str
    status: PipelineStatus
    runner: str
    params: dict[str, Any]
    no_cache: bool
    error: str | None
    start_time: datetime
    end_time: datetime | None
    steps: tuple[StepRun, ...] = field(default=())
    #: ``module:qualname`` of the pipeline ("" when it cannot be imported again).
    target: str = ""
    #: The working directory the run started in (``target`` is importable from there).
    workdir: str = ""
    #: How many times the run was resumed.
    resumes: int = 0

    @property
    def duration_seconds(self) -> float | None:
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    def step(self, invocation: str) -> StepRun:
        """The step run called ``invocation`` (``"train"``, ``"clean[2]"``)."""
        for step_run in self.steps:
            if step_run.invocation == invocation:
                return step_run
        from kiln.errors import NotFound

        known = ", ".join(s.invocation for s in self.steps) or "none loaded"
        raise NotFound(
            f"pipeline run {self.id} has no step invocation {invocation!r}; it has: {known}"
        )


class PipelineFailed(KilnError, RuntimeError):
    """A pipeline run ended FAILED; ``run`` is its record, with every step's error."""

    error_code = "PIPELINE_FAILED"

    def __init__(self, message: str, run: PipelineRun) -> None:
        super().__init__(message)
        self.run = run


class StepTimeout(KilnError, TimeoutError):
    """A step attempt ran longer than its ``timeout``."""

    error_code = "STEP_TIMEOUT"


class StepCrashed(KilnError, RuntimeError):
    """The process running a step died (killed, out of memory) before it answered."""

    error_code = "STEP_CRASHED"
