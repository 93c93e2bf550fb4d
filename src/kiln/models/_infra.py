"""Infrastructure needs: measured once at save time, overridable by the caller.

``memory_load_mb`` is the larger of the model's files and the growth of this
process's resident memory (RSS, read with psutil) while the saved folder is
loaded once; ``memory_serve_mb`` adds the RSS growth of one prediction on
the input example. Loading the saved copy doubles as a round-trip check: a
model that cannot be loaded fails at save time, not in production. RSS
growth is a floor rather than an exact figure (the allocator may reuse
freed memory), so callers who know better pass ``infra=``; given both memory
figures, nothing is measured and the round trip is skipped (a faster save).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from kiln.models._manifest import Device, InfraNeeds

__all__ = ["measure_infra"]

_MIB = 1 << 20


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _mib(size: int) -> int:
    return max(1, math.ceil(size / _MIB))


def measure_infra(
    *,
    device: Device,
    files_size: int,
    load: Callable[[], Any],
    predict: Callable[[Any], Any] | None,
    overrides: Mapping[str, Any],
) -> InfraNeeds:
    """Measure (unless ``overrides`` give both memory figures) and apply the overrides.

    ``load`` loads the saved model and returns something that keeps it alive;
    ``predict`` (given that object) predicts once on the input example.
    """
    if "memory_load_mb" in overrides and "memory_serve_mb" in overrides:
        return InfraNeeds(device=device).with_overrides(overrides)
    before = _rss()
    loaded = load()
    load_bytes = max(files_size, _rss() - before)
    serve_bytes = load_bytes
    if predict is not None:
        before = _rss()
        predict(loaded)
        serve_bytes += max(0, _rss() - before)
    del loaded
    measured = InfraNeeds(
        device=device,
        memory_load_mb=_mib(load_bytes),
        memory_serve_mb=_mib(serve_bytes),
        measured=True,
    )
    result = measured.with_overrides(overrides)
    if "memory_serve_mb" not in overrides and result.memory_serve_mb < result.memory_load_mb:
        result = replace(result, memory_serve_mb=result.memory_load_mb)
    return result
