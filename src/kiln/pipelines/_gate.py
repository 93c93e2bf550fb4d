"""The quality-gate step behind ``kiln.data.check`` inside a pipeline.

``kiln.data.check(...)`` called while a pipeline function is being built
lands in :func:`build_gate`, which adds a step running :func:`check_data`.
That step validates its input with ``kiln.data.validate`` and either
returns :class:`PassThrough` (the input, unchanged, becomes its output: no
copy is stored) or raises ``kiln.data.ValidationFailed``, which the executing
side turns into a *verdict*: the failed checks and an HTML report. The
engine then PAUSES the step (``on_failure="pause"``) or FAILS it, and raises
an alert either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiln.errors import InvalidInput
from kiln.pipelines._graph import Output
from kiln.pipelines._step import Step

__all__ = ["GATE_ATTRIBUTE", "PassThrough", "build_gate", "check_data", "is_gate"]

#: Set on gate functions, so the executing side knows a ValidationFailed is a verdict.
GATE_ATTRIBUTE = "__kiln_gate__"


@dataclass(frozen=True, slots=True)
class PassThrough:
    """A step's answer meaning "my output is my input ``argument``, unchanged"."""

    argument: str


def check_data(
    data: Any,
    reference: Any = None,
    *,
    schema: dict[str, Any] | None = None,
    thresholds: dict[str, Any] | None = None,
    on_failure: str = "pause",
) -> PassThrough:
    """Validate ``data``; pass it through, or raise ``ValidationFailed`` with the report."""
    from kiln.data import Schema, Thresholds, ValidationFailed, validate
    from kiln.data._gate import failure_message

    report = validate(
        data,
        Schema.from_dict(schema) if schema is not None else None,
        reference=reference,
        thresholds=Thresholds.from_dict(thresholds) if thresholds is not None else None,
    )
    print(str(report))
    if not report.passed:
        raise ValidationFailed(failure_message(report), report, on_failure)  # type: ignore[arg-type]
    return PassThrough("data")


setattr(check_data, GATE_ATTRIBUTE, True)


def is_gate(fn: Any) -> bool:
    return bool(getattr(fn, GATE_ATTRIBUTE, False))


def _json_spec(value: Any, what: str) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        result: dict[str, Any] = to_dict()
        return result
    raise InvalidInput(f"check(): {what} must be a kiln.data.{what.title()} or None", field=what)


def _data_argument(value: Any, what: str) -> Any:
    if isinstance(value, Output) or value is None or isinstance(value, str):
        return value
    version_uri = getattr(value, "uri", None)
    if isinstance(version_uri, str):  # a DatasetVersion
        return version_uri
    raise InvalidInput(
        f"check() in a pipeline takes {what} as a step output or a stored dataset version "
        f"('name@3'), got {type(value).__name__}; register the data first or produce it in a step",
        field=what,
    )


def build_gate(
    data: Any,
    schema: Any = None,
    *,
    reference: Any = None,
    thresholds: Any = None,
    on_failure: str = "pause",
    name: str | None = None,
    cache: bool = True,
) -> Output:
    """Add a gate step to the pipeline being built; returns its output (``data``)."""
    if data is None:
        raise InvalidInput("check() needs data to check", field="data")
    gate: Step[Any, Any] = Step(check_data, name=name or "check", cache=cache)
    output: Output = gate(
        _data_argument(data, "data"),
        _data_argument(reference, "reference"),
        schema=_json_spec(schema, "schema"),
        thresholds=_json_spec(thresholds, "thresholds"),
        on_failure=on_failure,
    )
    return output
