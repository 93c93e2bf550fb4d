"""``@step``: a function that runs as one node of a pipeline, with its options."""

from __future__ import annotations

import functools
import importlib
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, overload

from kiln.errors import Conflict, InvalidInput
from kiln.pipelines._graph import Output, active_graph, check_name
from kiln.pipelines._resources import Resources, as_resources

__all__ = ["Step", "reference", "resolve_reference", "step"]

P = ParamSpec("P")
R = TypeVar("R")


class Step(Generic[P, R]):
    """A function that runs as one step of a pipeline; made by :func:`step`.

    Inside a ``@pipeline`` function, calling it records the call and returns
    an :class:`~kiln.pipelines.Output` placeholder; ``map`` records one call
    per item. Outside a pipeline it refuses to run (``fn`` is the plain
    function, for tests). The object only stores its options.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        cache: bool = True,
        retries: int = 0,
        backoff: float = 1.0,
        timeout: float | None = None,
        resources: Resources | Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(fn) or isinstance(fn, Step):
            raise InvalidInput(f"@step decorates a function, got {fn!r}")
        self.fn = fn
        self.name = check_name(name if name is not None else fn.__name__, "step")
        if not isinstance(cache, bool):
            raise InvalidInput(f"step {self.name!r}: cache must be True or False, got {cache!r}")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise InvalidInput(
                f"step {self.name!r}: retries must be a whole number, zero or more, got {retries!r}"
            )
        if not _non_negative(backoff):
            raise InvalidInput(
                f"step {self.name!r}: backoff must be a number of seconds, zero or more, "
                f"got {backoff!r}"
            )
        if timeout is not None and not (_non_negative(timeout) and timeout > 0):
            raise InvalidInput(
                f"step {self.name!r}: timeout must be a positive number of seconds or None, "
                f"got {timeout!r}"
            )
        self.cache = cache
        self.retries = retries
        self.backoff = float(backoff)
        self.timeout = None if timeout is None else float(timeout)
        self.resources = as_resources(resources)
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Inside a pipeline function: record the call and return its :class:`Output`."""
        graph = active_graph()
        if graph is None:
            raise Conflict(
                f"step {self.name!r} was called outside a pipeline: steps only run inside a "
                f"function decorated with @pipeline (call {self.name}.fn(...) to run the plain "
                "function, e.g. in a unit test)"
            )
        return graph.add(self, args, kwargs)

    def map(self, items: Sequence[Any], /, **kwargs: Any) -> list[Output]:
        """One call per item (as the first argument), ``kwargs`` shared; returns the outputs.

        Invocations are named ``name[0]``, ``name[1]``, …; pass the returned
        list to another step to fan in.
        """
        graph = active_graph()
        if graph is None:
            raise Conflict(
                f"{self.name}.map(...) was called outside a pipeline: map steps inside a "
                "function decorated with @pipeline"
            )
        if isinstance(items, Output):
            raise InvalidInput(
                f"{self.name}.map() needs a list known while the pipeline is defined, not the "
                f"output of step {items.invocation!r}; map over parameters or a list of outputs"
            )
        if not isinstance(items, list | tuple | range):
            raise InvalidInput(
                f"{self.name}.map() takes a list of items, got {type(items).__name__}"
            )
        base = graph.invocation(self.name)
        return [
            graph.add(self, (item,), kwargs, invocation=f"{base}[{index}]")
            for index, item in enumerate(items)
        ]

    def options(self) -> dict[str, Any]:
        """The step's options as JSON values (for records and docs)."""
        return {
            "cache": self.cache,
            "retries": self.retries,
            "backoff": self.backoff,
            "timeout": self.timeout,
            "resources": self.resources.to_json(),
        }

    def __repr__(self) -> str:
        return f"<Step {self.name!r} of {self.fn.__module__}.{self.fn.__qualname__}>"


def _non_negative(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...


@overload
def step(
    *,
    name: str | None = None,
    cache: bool = True,
    retries: int = 0,
    backoff: float = 1.0,
    timeout: float | None = None,
    resources: Resources | Mapping[str, Any] | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...


def step(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    cache: bool = True,
    retries: int = 0,
    backoff: float = 1.0,
    timeout: float | None = None,
    resources: Resources | Mapping[str, Any] | None = None,
) -> Step[P, R] | Callable[[Callable[P, R]], Step[P, R]]:
    """Make a function a pipeline step: ``@step`` or ``@step(retries=2, timeout=60)``.

    - ``cache``: reuse the stored output when the cache key matches (see
      ``docs/pipelines.md``); ``False`` always runs it.
    - ``retries``: further attempts after an exception, waiting ``backoff``
      seconds, then twice as long each time.
    - ``timeout``: seconds one attempt may take; past it the attempt fails.
    - ``resources``: ``{"cpu": 2, "gpu": 1, "memory": "4GiB"}``; the parallel
      runner schedules by ``cpu``.
    - ``name``: the step's name in records (default: the function's name).
    """

    def decorate(function: Callable[P, R]) -> Step[P, R]:
        return Step(
            function,
            name=name,
            cache=cache,
            retries=retries,
            backoff=backoff,
            timeout=timeout,
            resources=resources,
        )

    return decorate if fn is None else decorate(fn)


def reference(fn: Callable[..., Any], step_name: str) -> str:
    """``"module:qualname"`` of a step's function, which another process can import.

    Lambdas and functions defined inside other functions have none:
    :class:`~kiln.errors.InvalidInput` says to move them to module level.
    """
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", "")
    if not module or "<" in qualname:
        raise InvalidInput(
            f"step {step_name!r} is {qualname or fn!r}, a lambda or a function defined inside "
            "another function; runners that use other processes import steps by module and "
            "name, so define it at the top level of a module (or use runner='sequential')"
        )
    target = f"{module}:{qualname}"
    try:
        found = resolve_reference(target)
    except InvalidInput:
        found = None
    if found is not fn:
        raise InvalidInput(
            f"step {step_name!r} cannot be found again as {target}: runners that use other "
            "processes import steps by module and name, so keep the decorated function at "
            "module level under its own name (or use runner='sequential')"
        )
    return target


def resolve_reference(target: str) -> Callable[..., Any]:
    """The function ``"module:qualname"`` names (a step's own function for a ``Step``)."""
    module_name, _, qualname = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(f"cannot import the step function {target}: {exc}") from None
    if isinstance(obj, Step):
        return obj.fn
    if not callable(obj):
        raise InvalidInput(f"{target} is not a function")
    return obj  # type: ignore[no-any-return]
