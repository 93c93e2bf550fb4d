"""``@pipeline``: a function whose step calls form the DAG, and ``Pipeline.run``."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, overload

from kiln.errors import InvalidInput
from kiln.pipelines._graph import Graph, building, check_name
from kiln.pipelines._params import resolve_params

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.pipelines._entities import PipelineRun
    from kiln.pipelines._runner import Runner

__all__ = ["Pipeline", "pipeline"]


class Pipeline:
    """A pipeline definition: the function that calls steps, and its name.

    Constructing it stores them; :meth:`run` builds the DAG by calling the
    function with the resolved parameters, then executes it with a runner.
    """

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None) -> None:
        if not callable(fn):
            raise InvalidInput(f"@pipeline decorates a function, got {fn!r}")
        self.fn = fn
        self.name = check_name(name if name is not None else fn.__name__, "pipeline")
        self.__doc__ = fn.__doc__

    def build(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        config: str | os.PathLike[str] | None = None,
    ) -> tuple[Graph, dict[str, Any]]:
        """The DAG for these parameters, and the parameters resolved; nothing runs."""
        resolved = resolve_params(self.fn, self.name, params, config)
        graph = Graph(self.name)
        from kiln.data._gate import gate_builder
        from kiln.pipelines._gate import build_gate

        with building(graph), gate_builder(build_gate):
            self.fn(**resolved)
        if not graph.nodes:
            raise InvalidInput(
                f"pipeline {self.name!r} called no step: call steps inside the pipeline function"
            )
        graph.order()
        return graph, resolved

    def run(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        config: str | os.PathLike[str] | None = None,
        runner: str | Runner = "sequential",
        no_cache: bool = False,
        raise_on_failure: bool = True,
        context: Context | None = None,
        project: str | None = None,
    ) -> PipelineRun:
        """Run the pipeline and return its record.

        ``params`` override the YAML file ``config``, which overrides the
        function's defaults. ``runner`` is a name (``"sequential"``,
        ``"parallel"``, or one from the ``kiln.runners`` entry points) or a
        :class:`Runner` instance (kept open, for several runs). ``no_cache``
        runs every step (and refreshes the cache). A FAILED run raises
        :class:`PipelineFailed` (its ``run`` is the record) unless
        ``raise_on_failure=False``.
        """
        from kiln.pipelines._engine import run_pipeline

        return run_pipeline(
            self,
            params,
            config=config,
            runner=runner,
            no_cache=no_cache,
            raise_on_failure=raise_on_failure,
            context=context,
            project=project,
        )

    def __call__(self, **params: Any) -> PipelineRun:
        """``training(alpha=0.5)``: shorthand for ``training.run({"alpha": 0.5})``."""
        return self.run(params)

    def __repr__(self) -> str:
        return f"<Pipeline {self.name!r}>"


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(*, name: str | None = None) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Make a function a pipeline: ``@pipeline`` or ``@pipeline(name="training")``.

    The function's parameters are the pipeline's parameters (JSON values);
    its body calls steps, passing outputs from one to the next.
    """

    def decorate(function: Callable[..., Any]) -> Pipeline:
        return Pipeline(function, name=name)

    return decorate if fn is None else decorate(fn)
