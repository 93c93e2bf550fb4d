"""The models one server serves: what to load, loading them, and running a request.

``ModelSpec`` says what to serve and how to batch it; ``ModelSet`` loads
every spec (readiness stays false until all are loaded), keeps one
``MicroBatcher`` per model and method, and turns a request's rows into the
model's output as JSON-ready NumPy arrays.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput, NotFound
from kiln.serving._batching import MicroBatcher
from kiln.serving._loaded import ServedModel, load_served

if TYPE_CHECKING:
    from kiln.serving._inputs import Rows
    from kiln.serving._metrics import ServerMetrics

__all__ = ["ModelSet", "ModelSpec", "as_spec"]

log = logging.getLogger("kiln.serving")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model to serve: its URI, its URL name and how requests to it are batched."""

    uri: str
    name: str | None = None
    batching: bool = True
    max_batch_size: int = 64
    max_wait_ms: float = 0.0
    max_queue_rows: int = 4096
    allow_pickle: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.uri, str) or not self.uri:
            raise InvalidInput("a model spec needs a uri", field="uri")
        for name in ("max_batch_size", "max_queue_rows"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidInput(f"{name} must be a whole number >= 1, got {value!r}", field=name)
        if not isinstance(self.max_wait_ms, int | float) or not 0 <= self.max_wait_ms <= 1000:
            raise InvalidInput(
                f"max_wait_ms must be between 0 and 1000, got {self.max_wait_ms!r}",
                field="max_wait_ms",
            )


def as_spec(item: str | ModelSpec) -> ModelSpec:
    return item if isinstance(item, ModelSpec) else ModelSpec(str(item))


@dataclass
class _Entry:
    model: ServedModel
    spec: ModelSpec
    batchers: dict[str, MicroBatcher] = field(default_factory=dict)


async def _retire(entry: _Entry, grace: float = 30.0) -> None:
    """Close a replaced model's workers once their queues are empty (or after ``grace``)."""
    deadline = asyncio.get_running_loop().time() + grace
    while any(b.stats.queued_rows or b.busy for b in entry.batchers.values()):
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    for batcher in entry.batchers.values():
        await asyncio.to_thread(batcher.close)


def _outputs(result: Any) -> Any:
    """A model's result as NumPy: an array, or a dict of arrays for a table of outputs."""
    import numpy as np
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        return {str(name): result[name].to_numpy() for name in result.columns}
    if isinstance(result, dict):
        return {str(name): np.asarray(values) for name, values in result.items()}
    return np.asarray(result)


class ModelSet:
    """The loaded models of a server, by name."""

    def __init__(self, specs: list[ModelSpec], metrics: ServerMetrics) -> None:
        self.specs = specs
        self.metrics = metrics
        self._entries: dict[str, _Entry] = {}
        self.ready = False

    async def load_all(self) -> None:
        """Load every model (in a thread: loading reads files and imports libraries)."""
        loaded: list[tuple[ServedModel, ModelSpec]] = []
        for spec in self.specs:
            model = await asyncio.to_thread(
                load_served, spec.uri, name=spec.name, allow_pickle=spec.allow_pickle
            )
            if model.name in self._entries or any(m.name == model.name for m, _ in loaded):
                raise InvalidInput(
                    f"two models would be served as {model.name!r}; give one a name",
                    field="name",
                )
            loaded.append((model, spec))
            log.info("loaded %s as %s in %.2fs", spec.uri, model.name, model.load_seconds)
        for model, spec in loaded:
            self._add(model, spec)
        self.ready = True
        self.metrics.ready.set(1)

    def put(self, model: ServedModel, spec: ModelSpec) -> None:
        """Serve ``model`` under its name, in place of any model served so before.

        The swap is one dictionary assignment on the event loop: a request
        either got the old model or gets the new one. The old model's workers
        finish what they hold and then stop.
        """
        old = self._entries.get(model.name)
        self._add(model, spec)
        if old is not None:
            asyncio.get_running_loop().create_task(_retire(old))

    def _add(self, model: ServedModel, spec: ModelSpec) -> None:
        entry = _Entry(model, spec)
        labels = {"model": model.name, "version": model.version_label}
        for method in model.methods:
            batcher = MicroBatcher(
                self._caller(model, method),
                name=f"{model.name}.{method}",
                max_batch_size=spec.max_batch_size,
                max_wait_ms=spec.max_wait_ms,
                max_queue_rows=spec.max_queue_rows,
                enabled=spec.batching,
            )
            batcher.stats.observers.append(self.metrics.batch_size.labels(**labels).observe)
            entry.batchers[method] = batcher
        queued = self.metrics.queue_rows.labels(**labels)
        queued.set_function(lambda: sum(b.stats.queued_rows for b in entry.batchers.values()))
        self.metrics.load_seconds.labels(**labels).set(model.load_seconds)
        self._entries[model.name] = entry

    @staticmethod
    def _caller(model: ServedModel, method: str) -> Any:
        def call(rows: Rows) -> Any:
            return _outputs(model.call(method, rows.model_input()))

        return call

    def has(self, name: str) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return list(self._entries)

    def get(self, name: str, version: str | None = None) -> ServedModel:
        """The model served as ``name`` (and, when given, that registered ``version``)."""
        entry = self._entries.get(name)
        if entry is None:
            known = ", ".join(self._entries) or "none"
            raise NotFound(f"no model {name!r} is served here; served: {known}", field="name")
        if version is not None and version != entry.model.version_label:
            have = entry.model.version_label or "none (not a registered version)"
            raise NotFound(
                f"model {name!r} is served at version {have}, not {version!r}", field="version"
            )
        return entry.model

    async def predict(self, name: str, method: str, rows: Rows) -> Any:
        entry = self._entries[name]
        batcher = entry.batchers.get(method)
        if batcher is None:
            raise InvalidInput(
                f"model {name!r} has no {method}; it answers {', '.join(entry.batchers)}",
                field="method",
            )
        return await batcher.submit(rows)

    def close(self) -> None:
        for entry in self._entries.values():
            for batcher in entry.batchers.values():
                batcher.close()
        self.ready = False
