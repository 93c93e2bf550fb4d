"""``Resources``: what one step asks of the machine (CPUs, GPUs, memory)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiln.errors import InvalidInput

__all__ = ["Resources", "as_resources"]

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*")


@dataclass(frozen=True, slots=True)
class Resources:
    """CPUs and GPUs a step needs (fractions allowed), and its memory in bytes.

    The parallel runner schedules by ``cpu`` against its CPU budget; ``gpu``
    and ``memory`` are recorded and passed on to runners that schedule them
    (a cluster runner such as Ray), and not enforced by the local runners.
    """

    cpu: float = 1.0
    gpu: float = 0.0
    memory: int | None = None

    def __post_init__(self) -> None:
        for name in ("cpu", "gpu"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise InvalidInput(f"resources.{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise InvalidInput(f"resources.{name} must be zero or more, got {value!r}")
        if self.memory is not None and (
            not isinstance(self.memory, int) or isinstance(self.memory, bool) or self.memory < 0
        ):
            raise InvalidInput(f"resources.memory must be a number of bytes, got {self.memory!r}")

    def to_json(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "gpu": self.gpu, "memory": self.memory}


def parse_memory(value: int | str) -> int:
    """Bytes from ``4_000_000``, ``"512MiB"``, ``"4GB"`` or ``"2g"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and (match := _SIZE.fullmatch(value)):
        number, unit = match.groups()
        factor = _UNITS.get(unit.lower())
        if factor is not None:
            return int(float(number) * factor)
    raise InvalidInput(
        f"resources.memory {value!r} is not a size: give bytes (an int) or a string such as "
        "'512MiB', '4GB' or '2g'"
    )


def as_resources(value: Resources | Mapping[str, Any] | None) -> Resources:
    """A :class:`Resources` from itself, a mapping (``{"cpu": 2, "memory": "4GiB"}``) or None."""
    if value is None:
        return Resources()
    if isinstance(value, Resources):
        return value
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f"resources must be a mapping such as {{'cpu': 2, 'memory': '4GiB'}}, got {value!r}"
        )
    unknown = sorted(set(value) - {"cpu", "gpu", "memory"})
    if unknown:
        raise InvalidInput(
            f"unknown resources {', '.join(map(repr, unknown))}: a step can ask for cpu, gpu "
            "and memory"
        )
    memory = value.get("memory")
    return Resources(
        cpu=value.get("cpu", 1.0),
        gpu=value.get("gpu", 0.0),
        memory=None if memory is None else parse_memory(memory),
    )
