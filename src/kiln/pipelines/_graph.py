"""The DAG a pipeline function builds by calling steps.

While a ``@pipeline`` function runs, a :class:`Graph` is active (a context
variable). Calling a step adds a :class:`Node` and returns an
:class:`Output`, a placeholder for the value the step will produce; passing
that placeholder (or a list or dict of them) to another step is an edge.
Every other argument is a parameter and must be a JSON value. Nodes can only
point at nodes created before them, so a cycle cannot be built through
calls; :meth:`Graph.order` still checks, as the runners rely on it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from kiln.errors import Conflict, InvalidInput
from kiln.pipelines._params import canonical_json

if TYPE_CHECKING:
    from kiln.pipelines._step import Step

__all__ = [
    "Graph",
    "InputSpec",
    "Node",
    "Output",
    "active_graph",
    "building",
    "check_name",
    "spec_invocations",
]

#: Where an input comes from: one invocation, a list/tuple of them, or a dict of them.
InputSpec = str | list[str] | tuple[str, ...] | dict[str, str]

_ACTIVE: ContextVar[Graph | None] = ContextVar("kiln_pipeline_graph", default=None)
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,200}")


class Output:
    """The future output of one step invocation, while a pipeline is being defined.

    It has no value yet: pass it to other steps. Using it as data (``if``,
    ``len``, iteration, indexing, attributes) raises
    :class:`~kiln.errors.Conflict` saying so.
    """

    __slots__ = ("_graph", "invocation")

    def __init__(self, graph: Graph, invocation: str) -> None:
        self._graph = graph
        self.invocation = invocation

    def __repr__(self) -> str:
        return f"<Output of step invocation {self.invocation!r}>"

    def _no_value(self, use: str) -> NoReturn:
        raise Conflict(
            f"the output of step {self.invocation!r} has no value while the pipeline is being "
            f"defined, so it cannot be used for {use}: pass it to another step, which receives "
            "the value when the pipeline runs"
        )

    def __bool__(self) -> bool:
        self._no_value("a truth test")

    def __len__(self) -> int:
        self._no_value("len()")

    def __iter__(self) -> Iterator[Any]:
        self._no_value("iteration (to fan out, map a step over a list you know while defining)")

    def __getitem__(self, key: object) -> Any:
        self._no_value("indexing")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        self._no_value(f"attribute access (.{name})")


@dataclass(eq=False, slots=True)
class Node:
    """One step invocation: its step, parameters and inputs (by upstream invocation)."""

    invocation: str
    position: int
    step: Step[Any, Any]
    #: Argument names in the order of the function's signature.
    order: tuple[str, ...]
    params: dict[str, Any]
    inputs: dict[str, InputSpec]
    upstream: tuple[str, ...]


class Graph:
    """The nodes one run of a pipeline function created, in call order."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.nodes: dict[str, Node] = {}
        self._calls: Counter[str] = Counter()

    def invocation(self, step_name: str) -> str:
        """A new invocation id: ``clean`` for the first call, then ``clean#2``, ``clean#3``."""
        self._calls[step_name] += 1
        count = self._calls[step_name]
        return step_name if count == 1 else f"{step_name}#{count}"

    def add(
        self,
        step: Step[Any, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        invocation: str | None = None,
    ) -> Output:
        """Record a call of ``step`` and return the placeholder of its output."""
        try:
            bound = step.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInput(f"step {step.name!r} was called with bad arguments: {exc}") from None
        params: dict[str, Any] = {}
        inputs: dict[str, InputSpec] = {}
        upstream: dict[str, None] = {}
        for name, value in bound.arguments.items():
            spec = self._input_spec(step.name, name, value)
            if spec is None:
                canonical_json(value, f"parameter {name!r} of step {step.name!r}")
                params[name] = value
                continue
            inputs[name] = spec
            upstream.update(dict.fromkeys(spec_invocations(spec)))
        name = invocation if invocation is not None else self.invocation(step.name)
        node = Node(
            invocation=name,
            position=len(self.nodes),
            step=step,
            order=tuple(bound.arguments),
            params=params,
            inputs=inputs,
            upstream=tuple(upstream),
        )
        self.nodes[name] = node
        return Output(self, name)

    def _input_spec(self, step: str, name: str, value: Any) -> InputSpec | None:
        if isinstance(value, Output):
            return self._own(value, step, name)
        if isinstance(value, list | tuple):
            outputs = [isinstance(item, Output) for item in value]
            if value and all(outputs):
                invocations = [self._own(item, step, name) for item in value]
                return tuple(invocations) if isinstance(value, tuple) else invocations
            if any(outputs):
                raise InvalidInput(
                    f"argument {name!r} of step {step!r} mixes step outputs and plain values; "
                    "pass a list of outputs only, and plain values as separate parameters"
                )
        if isinstance(value, dict) and value:
            outputs = [isinstance(item, Output) for item in value.values()]
            if all(outputs) and all(isinstance(key, str) for key in value):
                return {key: self._own(item, step, name) for key, item in value.items()}
            if any(outputs):
                raise InvalidInput(
                    f"argument {name!r} of step {step!r} mixes step outputs and plain values "
                    "in a dict; pass a dict of outputs only (string keys)"
                )
        return None

    def _own(self, output: Output, step: str, name: str) -> str:
        if output._graph is not self:
            raise Conflict(
                f"argument {name!r} of step {step!r} is the output of {output.invocation!r} "
                "from another pipeline run; outputs can only be passed between steps of the "
                "same pipeline run"
            )
        return output.invocation

    def order(self) -> list[Node]:
        """The nodes in an order where every node comes after its upstream nodes.

        Raises :class:`~kiln.errors.InvalidInput` naming the nodes of a cycle
        or an unknown upstream invocation.
        """
        for node in self.nodes.values():
            missing = [up for up in node.upstream if up not in self.nodes]
            if missing:
                raise InvalidInput(
                    f"step invocation {node.invocation!r} depends on {', '.join(missing)}, "
                    f"which pipeline {self.pipeline!r} does not have"
                )
        waiting = {name: len(set(node.upstream)) for name, node in self.nodes.items()}
        downstream: dict[str, list[str]] = {name: [] for name in self.nodes}
        for node in self.nodes.values():
            for up in set(node.upstream):
                downstream[up].append(node.invocation)
        ready = [name for name, count in waiting.items() if count == 0]
        ordered: list[Node] = []
        while ready:
            name = ready.pop(0)
            ordered.append(self.nodes[name])
            for down in downstream[name]:
                waiting[down] -= 1
                if waiting[down] == 0:
                    ready.append(down)
        if len(ordered) < len(self.nodes):
            stuck = sorted(name for name, count in waiting.items() if count > 0)
            raise InvalidInput(
                f"pipeline {self.pipeline!r} has a cycle among the steps {', '.join(stuck)}: "
                "a step cannot depend, directly or not, on its own output"
            )
        return ordered


def spec_invocations(spec: InputSpec) -> list[str]:
    """The upstream invocations an input spec names, in order."""
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, dict):
        return list(spec.values())
    return list(spec)


def check_name(name: str, what: str) -> str:
    """``name`` if it is a valid step or pipeline name; otherwise InvalidInput."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"{what} name {name!r} is not valid: use 1 to 200 letters, digits, '_', '.' or '-'"
        )
    return name


def active_graph() -> Graph | None:
    """The graph the running pipeline function is building, if any."""
    return _ACTIVE.get()


@contextmanager
def building(graph: Graph) -> Iterator[Graph]:
    """Make ``graph`` the active one for the calls inside the block."""
    if _ACTIVE.get() is not None:
        raise Conflict(
            "a pipeline was run while another pipeline was being defined; run pipelines one "
            "after the other, not from inside a pipeline function"
        )
    token = _ACTIVE.set(graph)
    try:
        yield graph
    finally:
        _ACTIVE.reset(token)
