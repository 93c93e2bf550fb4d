"""Search spaces: ``{"lr": Float(1e-4, 1e-1, log=True), "depth": Int(2, 8), "kind": ["a", "b"]}``.

A space is checked whole before any trial runs, so a typo fails at once
with the parameter at fault named (``InvalidInput`` with
``field="space.<name>"``) instead of in trial 37. Each entry becomes an
Optuna distribution; Optuna's own distributions are accepted as they are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

__all__ = ["Categorical", "Float", "Int", "grid_of", "parse_space"]

#: Types Optuna stores as categorical choices.
_CHOICE_TYPES = (type(None), bool, int, float, str)


@dataclass(frozen=True, slots=True)
class Float:
    """A real parameter in ``[low, high]``; ``log=True`` samples its logarithm; ``step`` a grid."""

    low: float
    high: float
    log: bool = False
    step: float | None = None


@dataclass(frozen=True, slots=True)
class Int:
    """An integer parameter in ``[low, high]`` (both included), every ``step``."""

    low: int
    high: int
    log: bool = False
    step: int = 1


@dataclass(frozen=True, slots=True)
class Categorical:
    """One of ``choices`` (None, bools, numbers or strings)."""

    choices: tuple[Any, ...]

    def __init__(self, choices: Sequence[Any]) -> None:
        object.__setattr__(self, "choices", tuple(choices))


def _number(value: Any, field: str, *, integer: bool) -> Any:
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an integer" if integer else "a number"
        raise InvalidInput(f"{field} must be {kind}, got {value!r}", field=field)
    if not integer and not math.isfinite(value):  # type: ignore[arg-type]
        raise InvalidInput(f"{field} must be finite, got {value!r}", field=field)
    return value


def _bounds(spec: Float | Int, field: str) -> None:
    integer = isinstance(spec, Int)
    low = _number(spec.low, f"{field}.low", integer=integer)
    high = _number(spec.high, f"{field}.high", integer=integer)
    if low > high:
        raise InvalidInput(f"{field}: low {low!r} is above high {high!r}", field=field)
    if spec.log and low <= 0:
        raise InvalidInput(f"{field}: a log scale needs low > 0, got {low!r}", field=field)
    if spec.step is not None:
        step = _number(spec.step, f"{field}.step", integer=integer)
        if step <= 0:
            raise InvalidInput(f"{field}: step must be above 0, got {step!r}", field=field)
        if spec.log and (not integer or step != 1):
            raise InvalidInput(f"{field}: pick a log scale or a step, not both", field=field)


def _choices(values: Sequence[Any], field: str) -> tuple[Any, ...]:
    choices = tuple(values)
    if not choices:
        raise InvalidInput(f"{field} has no choices", field=field)
    for choice in choices:
        if not isinstance(choice, _CHOICE_TYPES):
            raise InvalidInput(
                f"{field}: choice {choice!r} is a {type(choice).__name__}; choices are None, "
                "bools, numbers or strings (map other objects from a string key)",
                field=field,
            )
    if len(set(map(repr, choices))) != len(choices):
        raise InvalidInput(f"{field} lists a choice twice", field=field)
    return choices


def _distribution(spec: Any, field: str) -> BaseDistribution:
    try:
        return _optuna_distribution(spec, field)
    except InvalidInput:
        raise
    except ValueError as exc:  # Optuna's own checks, should ours have missed one
        raise InvalidInput(f"{field}: {exc}", field=field) from None


def _optuna_distribution(spec: Any, field: str) -> BaseDistribution:
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(spec, BaseDistribution):
        return spec
    if isinstance(spec, Float):
        _bounds(spec, field)
        return FloatDistribution(float(spec.low), float(spec.high), log=spec.log, step=spec.step)
    if isinstance(spec, Int):
        _bounds(spec, field)
        step = 1 if spec.log else spec.step
        return IntDistribution(spec.low, spec.high, log=spec.log, step=step)
    if isinstance(spec, Categorical):
        return CategoricalDistribution(_choices(spec.choices, field))
    if isinstance(spec, list | tuple):
        return CategoricalDistribution(_choices(spec, field))
    if isinstance(spec, range):
        if len(spec) == 0:
            raise InvalidInput(f"{field} is an empty range", field=field)
        if spec.step < 0:
            raise InvalidInput(f"{field}: give the range in increasing order", field=field)
        return IntDistribution(spec.start, spec[-1], step=spec.step)
    raise InvalidInput(
        f"{field} is a {type(spec).__name__}; give Float(low, high), Int(low, high), "
        "Categorical([...]), a list of choices, a range, or an Optuna distribution",
        field=field,
    )


def parse_space(space: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """Each entry of ``space`` as an Optuna distribution, or ``InvalidInput`` naming the entry."""
    if not isinstance(space, Mapping):
        raise InvalidInput(
            f"space must be a mapping of parameter names to ranges, got {type(space).__name__}",
            field="space",
        )
    if not space:
        raise InvalidInput("space is empty: name at least one parameter", field="space")
    parsed = {}
    for name, spec in space.items():
        if not isinstance(name, str) or not name or len(name) > 250:
            raise InvalidInput(
                f"parameter name {name!r} must be a non-empty string of up to 250 characters",
                field="space",
            )
        parsed[name] = _distribution(spec, f"space.{name}")
    return parsed


def grid_of(distributions: Mapping[str, BaseDistribution]) -> dict[str, list[Any]]:
    """Every value of each distribution, for the grid sampler; finite spaces only."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    grid: dict[str, list[Any]] = {}
    for name, distribution in distributions.items():
        field = f"space.{name}"
        if isinstance(distribution, CategoricalDistribution):
            grid[name] = list(distribution.choices)
        elif isinstance(distribution, IntDistribution) and not distribution.log:
            grid[name] = list(range(distribution.low, distribution.high + 1, distribution.step))
        elif isinstance(distribution, FloatDistribution) and distribution.step is not None:
            count = round((distribution.high - distribution.low) / distribution.step) + 1
            grid[name] = [distribution.low + i * distribution.step for i in range(count)]
        else:
            raise InvalidInput(
                f"{field} is not finite: the grid sampler needs choices, an Int range or a "
                "Float with a step",
                field=field,
            )
    return grid
