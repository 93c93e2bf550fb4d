"""Plain domain objects of the model registry (never ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, TypeAlias

MODELS_SCHEME = "models:/"


class ModelVersionStatus(StrEnum):
    """MLflow's version statuses; Kiln registers synchronously, so versions are READY."""

    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"


class AliasAction(StrEnum):
    """What an alias event did: moved the alias, removed it, or undid the last move."""

    SET = "set"
    DELETE = "delete"
    ROLLBACK = "rollback"


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A named model of a project: its versions are numbered 1, 2, 3, …"""

    name: str
    project: str
    description: str
    created_at: datetime
    updated_at: datetime
    #: The highest existing version number (None: no version yet).
    latest_version: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    #: alias → version number
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One version of a registered model.

    ``source`` is where the files are (``runs:/<run_id>/<path>`` or a folder);
    ``manifest_sha256`` pins the version's ``kiln-model.yaml``, and through its
    file list every file, so loading refuses anything that changed since.
    """

    name: str
    version: int
    source: str
    run_id: str | None
    manifest_sha256: str
    flavor: str
    description: str
    status: ModelVersionStatus
    created_at: datetime
    updated_at: datetime
    created_by: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``, accepted by ``kiln.registry.load_model``."""
        return f"{MODELS_SCHEME}{self.name}/{self.version}"


@dataclass(frozen=True, slots=True)
class MetricThreshold:
    """Passes when the version's run has ``metric`` ``op`` ``value`` (its latest point)."""

    type: ClassVar[str] = "metric_threshold"
    name: str
    metric: str
    op: str
    value: float


@dataclass(frozen=True, slots=True)
class BeatsCurrent:
    """Passes when the version's ``metric`` beats the alias's current holder by ``min_delta``.

    ``direction="max"``: new - current >= min_delta; ``"min"``: current - new >= min_delta.
    Passes when nobody holds the alias.
    """

    type: ClassVar[str] = "beats_current"
    name: str
    metric: str
    direction: str = "max"
    min_delta: float = 0.0


@dataclass(frozen=True, slots=True)
class CallableCheck:
    """``package.module:function(predictor, frame)`` on a validation dataset, run by the SDK.

    The function returns a bool, or ``(bool, detail)``; ``dataset`` is a Parquet
    or CSV path or a ``runs:/<run_id>/<file>`` artifact.
    """

    type: ClassVar[str] = "callable"
    name: str
    callable: str
    dataset: str


Check: TypeAlias = MetricThreshold | BeatsCurrent | CallableCheck


@dataclass(frozen=True, slots=True)
class Gate:
    """The checks an alias of a model requires before it may move (empty: no gate)."""

    name: str
    alias: str
    checks: tuple[Check, ...] = ()
    updated_at: datetime | None = None
    updated_by: str = ""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check for one move.

    ``evaluated_by`` is ``"store"`` for checks Kiln evaluated from the metadata
    store in the same transaction as the move (metric checks), ``"caller"``
    for results the caller's SDK computed and reported (callable checks).
    """

    name: str
    type: str
    passed: bool
    observed: float | None = None
    detail: str = ""
    evaluated_by: str = "store"


@dataclass(frozen=True, slots=True)
class AliasEvent:
    """One move of an alias: who, when, from which version to which, and why it was allowed."""

    id: int
    name: str
    alias: str
    action: AliasAction
    from_version: int | None
    to_version: int | None
    actor: str
    at: datetime
    results: tuple[CheckResult, ...] = ()
    #: True when failed checks were overridden with ``force=True``.
    forced: bool = False
    note: str = ""

    @property
    def passed(self) -> bool:
        """Whether every check of the gate passed (True when there was no check)."""
        return all(result.passed for result in self.results)
