"""``check``: validation as a gate, now or as a step of the pipeline being defined.

Called inside a ``@pipeline`` function, :func:`check` adds a gate step to
the DAG (the pipelines package installs a *gate builder* while it builds a
graph, through :func:`gate_builder`): the step validates its input when the
run reaches it, passes the input through unchanged when the checks pass,
and otherwise fails the run or PAUSES it with an alert. Called anywhere
else, it validates at once and raises :class:`ValidationFailed` when a check
fails. This package sits below pipelines, so it only knows the builder as a
callable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal

from kiln.errors import InvalidInput, KilnError

if TYPE_CHECKING:
    from kiln.data._report import ValidationReport
    from kiln.data._schema import Schema
    from kiln.data._thresholds import Thresholds

__all__ = ["OnFailure", "ValidationFailed", "check", "gate_builder"]

OnFailure = Literal["pause", "fail"]

#: Builds a gate step node; set while a pipeline function is being called.
GateBuilder = Callable[..., Any]
_BUILDER: ContextVar[GateBuilder | None] = ContextVar("kiln_gate_builder", default=None)


class ValidationFailed(KilnError, ValueError):
    """Data failed validation; ``report`` holds every check and its evidence."""

    error_code = "VALIDATION_FAILED"

    def __init__(self, message: str, report: ValidationReport, on_failure: OnFailure = "fail"):
        super().__init__(message)
        self.report = report
        self.on_failure = on_failure


@contextmanager
def gate_builder(builder: GateBuilder) -> Iterator[None]:
    """Make :func:`check` call ``builder`` (with check's arguments) inside this block."""
    token = _BUILDER.set(builder)
    try:
        yield
    finally:
        _BUILDER.reset(token)


def failure_message(report: ValidationReport) -> str:
    """One line naming the failed checks."""
    failed = report.failures
    shown = "; ".join(
        f"{c.name}{f'[{c.column}]' if c.column else ''}: {c.detail}" for c in failed[:5]
    )
    more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
    return f"{len(failed)} check(s) failed: {shown}{more}"


def check(
    data: Any,
    schema: Schema | dict[str, Any] | None = None,
    *,
    reference: Any = None,
    thresholds: Thresholds | None = None,
    on_failure: OnFailure = "pause",
    name: str | None = None,
    cache: bool = True,
) -> Any:
    """Validate ``data`` as a gate.

    In a pipeline: returns the gate step's output, which is ``data`` itself
    (pass it on to the next steps, so they wait for the gate). ``data`` and
    ``reference`` are step outputs or stored versions (``"name@3"``). When a
    check fails the run is PAUSED (``on_failure="pause"``: resume it with
    ``kiln pipelines resume RUN [--accept]``) or FAILED (``"fail"``), and an
    alert records the failed checks. A gate that passed for the same input
    and settings is cached like any step; ``cache=False`` re-checks on every
    run. ``name`` names the step (default ``check``).

    Elsewhere: validates now and returns the report, or raises
    :class:`ValidationFailed` when a check fails.
    """
    if on_failure not in ("pause", "fail"):
        raise InvalidInput(
            f"on_failure must be 'pause' or 'fail', got {on_failure!r}", field="on_failure"
        )
    builder = _BUILDER.get()
    if builder is not None:
        return builder(
            data,
            schema,
            reference=reference,
            thresholds=thresholds,
            on_failure=on_failure,
            name=name,
            cache=cache,
        )
    from kiln.data._fluent import validate
    from kiln.data._schema import Schema

    wanted = Schema.from_dict(schema) if isinstance(schema, dict) else schema
    report = validate(data, wanted, reference=reference, thresholds=thresholds)
    if not report.passed:
        raise ValidationFailed(failure_message(report), report, on_failure)
    return report
