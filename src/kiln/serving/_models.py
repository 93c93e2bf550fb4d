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
from kiln.serving._budget import ModelNeeds
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


@dataclass
class _Waiting:
    """A model this server may serve and loads on first use (under a memory budget)."""

    spec: ModelSpec
    needs: ModelNeeds
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ModelSet:
    """The models of a server, by name: loaded at start, or on first use under a budget.

    With ``memory_budget_mb`` the server checks every model's manifest at
    start (refusing one it cannot hold) and loads a model when a request
    first needs it; when loading it would pass the budget, the least
    recently used models are unloaded first. Each load's time is measured
    (``kiln_model_load_seconds``, and the answer's ``X-Kiln-Cold-Load-Ms``).
    """

    def __init__(
        self,
        specs: list[ModelSpec],
        metrics: ServerMetrics,
        *,
        memory_budget_mb: int | None = None,
    ) -> None:
        self.specs = specs
        self.metrics = metrics
        self.memory_budget_mb = memory_budget_mb
        self._entries: dict[str, _Entry] = {}
        self._waiting: dict[str, _Waiting] = {}
        self._used: dict[str, float] = {}
        self._sizes: dict[str, int] = {}
        self.ready = False

    async def load_all(self) -> None:
        """Load every model (in a thread), or with a budget check them and load on first use."""
        if self.memory_budget_mb is not None:
            await self._check_all()
            return
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

    async def _check_all(self) -> None:
        from kiln.serving._budget import check_needs, read_needs
        from kiln.serving._loaded import served_name

        for spec in self.specs:
            name = spec.name or served_name(spec.uri)
            if name in self._waiting:
                raise InvalidInput(
                    f"two models would be served as {name!r}; give one a name", field="name"
                )
            needs = await asyncio.to_thread(read_needs, spec.uri)
            check_needs(spec.uri, needs, self.memory_budget_mb)
            self._waiting[name] = _Waiting(spec, needs)
        self.ready = True
        self.metrics.ready.set(1)

    async def acquire(self, name: str, version: str | None = None) -> tuple[ServedModel, float]:
        """The model served as ``name``, loaded now if it must be; and the load's seconds (0)."""
        loop = asyncio.get_running_loop()
        waiting = self._waiting.get(name)
        if waiting is None or name in self._entries:
            model = self.get(name, version)
            self._used[name] = loop.time()
            return model, 0.0
        async with waiting.lock:
            if name not in self._entries:  # another request may have loaded it meanwhile
                await self._make_room(name, waiting.needs.memory_mb)
                model = await asyncio.to_thread(
                    load_served,
                    waiting.spec.uri,
                    name=name,
                    allow_pickle=waiting.spec.allow_pickle,
                )
                self._add(model, waiting.spec)
                self._sizes[name] = waiting.needs.memory_mb
                self.metrics.loads.labels(model=name).inc()
                self._used[name] = loop.time()
                log.info("loaded %s on first use in %.2fs", name, model.load_seconds)
                return self.get(name, version), model.load_seconds
        self._used[name] = loop.time()
        return self.get(name, version), 0.0

    async def _make_room(self, name: str, needed: int) -> None:
        """Unload the least recently used idle models until ``needed`` MiB fit the budget."""
        assert self.memory_budget_mb is not None
        while sum(self._sizes.values()) + needed > self.memory_budget_mb:
            idle = [
                other
                for other in sorted(self._sizes, key=lambda n: self._used.get(n, 0.0))
                if other != name and not self._in_use(other)
            ]
            if not idle:
                break  # everything loaded is busy: go over the budget for now, never fail
            victim = idle[0]
            entry = self._entries.pop(victim)
            self._sizes.pop(victim, None)
            self.metrics.unloads.labels(model=victim).inc()
            log.info("unloaded %s (least recently used) to make room for %s", victim, name)
            await _retire(entry, grace=0.0)

    def _in_use(self, name: str) -> bool:
        entry = self._entries.get(name)
        return entry is not None and any(
            b.stats.queued_rows or b.busy for b in entry.batchers.values()
        )

    def loaded(self) -> list[str]:
        return list(self._entries)

    def has(self, name: str) -> bool:
        return name in self._entries or name in self._waiting

    def names(self) -> list[str]:
        return list(dict.fromkeys([*self._entries, *self._waiting]))

    def get(self, name: str, version: str | None = None) -> ServedModel:
        """The model served as ``name`` (and, when given, that registered ``version``)."""
        entry = self._entries.get(name)
        if entry is None:
            known = ", ".join(self.names()) or "none"
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
