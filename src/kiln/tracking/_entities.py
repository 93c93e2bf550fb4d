"""Plain domain objects of experiment tracking (never ORM rows)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class RunStatus(StrEnum):
    """Where a run is in its life. Only RUNNING (and SCHEDULED) runs take new data."""

    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminated(self) -> bool:
        return self in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


class LifecycleStage(StrEnum):
    """Deleted experiments and runs are hidden, and can be restored."""

    ACTIVE = "active"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Experiment:
    """A named group of runs in a project."""

    id: str
    name: str
    project: str
    description: str
    lifecycle_stage: LifecycleStage
    created_at: datetime
    updated_at: datetime
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Metric:
    """One point: ``timestamp`` is milliseconds since the epoch; NaN and ±inf are kept."""

    key: str
    value: float
    step: int = 0
    timestamp: int = 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Metric):
            return NotImplemented
        same_value = self.value == other.value or (
            math.isnan(self.value) and math.isnan(other.value)
        )
        return same_value and (self.key, self.step, self.timestamp) == (
            other.key,
            other.step,
            other.timestamp,
        )

    def __hash__(self) -> int:
        return hash((self.key, self.step, self.timestamp))


@dataclass(frozen=True, slots=True)
class Param:
    """A run's input setting; logged once, never changed."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class DatasetInput:
    """A dataset a run used: what it is (name, digest, schema), where from, and how."""

    name: str
    digest: str
    source_type: str = ""
    source: str = ""
    schema: str = ""
    profile: str = ""
    context: str = ""


@dataclass(frozen=True, slots=True)
class RunArtifact:
    """A file logged to a run: its logical path and the blob that holds it."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class Run:
    """One execution of training or evaluation code, with what it logged.

    ``metrics`` holds each key's latest point (highest step, then latest
    timestamp); the full history comes from ``get_metric_history``.
    """

    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    parent_run_id: str | None
    user: str
    lifecycle_stage: LifecycleStage
    failure: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    inputs: tuple[DatasetInput, ...] = ()

    @property
    def duration_ms(self) -> int | None:
        return None if self.end_time is None else self.end_time - self.start_time
