"""``Checkpoint``: what the SDK and the services hand back about one stored checkpoint.

Kept apart from the services so ``kiln.checkpoint`` can name the type
without importing SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ["MODES", "Checkpoint", "Mode"]

#: Whether a lower or a higher metric is better.
Mode = Literal["min", "max"]
MODES: tuple[Mode, ...] = ("min", "max")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One checkpoint of a run at a step.

    ``digest`` names the blob the object was written to in ``format`` (a
    format that writes several blobs names its index blob); ``size`` counts
    every blob's bytes. ``metric`` and ``mode`` are what it was saved with,
    or None.
    """

    run_id: str
    step: int
    digest: str
    size: int
    format: str
    metric: float | None
    mode: Mode | None
    created_at: datetime
