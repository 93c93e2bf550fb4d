"""Inference graphs: several models served as one — a sequence, an ensemble or a router.

::

    graph:<spec.yaml> ─► _graph_spec.read_graph   the spec, checked (no model loaded yet)
                           │  _graph_rules.py     a router's rules: data, never code
                           ▼
                         load_graph               every model loaded (once per URI), each
                           │                      signature checked against the spec: the
                           │                      columns a rule tests, the columns a step
                           │                      adds, the dtypes two models disagree on
                           ▼
                         _graph_predictor.py      GraphPredictor: predict / predict_proba on
                                                  whole columns, one call per model

``load_served`` hands a ``graph:`` URI here, so a graph is served, batched,
measured and listed like any model; its name is the spec's ``name``.
docs/serving-graphs.md has the spec format.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from kiln.errors import InvalidInput, KilnError
from kiln.serving._graph_predictor import (
    EnsembleGraph,
    GraphPredictor,
    Member,
    Model,
    RouterGraph,
    SequenceGraph,
    Step,
)
from kiln.serving._graph_rules import check_rule
from kiln.serving._graph_spec import (
    EnsembleSpec,
    GraphSpec,
    ModelRef,
    RouterSpec,
    SequenceSpec,
    read_graph,
)

if TYPE_CHECKING:
    from kiln.models import ColumnSpec, Predictor, Signature
    from kiln.serving._loaded import ServedModel

__all__ = ["GraphPredictor", "load_graph", "load_graph_served"]

_SPECS = (SequenceSpec, EnsembleSpec, RouterSpec)


def load_graph(
    spec: str | os.PathLike[str] | Mapping[str, Any] | GraphSpec, *, allow_pickle: bool = False
) -> GraphPredictor:
    """The graph a spec describes (a YAML path, ``graph:<path>``, a dict or a read spec), loaded.

    ``allow_pickle`` is passed to every model's load. A bad spec is
    ``InvalidInput`` whose ``field`` is the spec path of the bad value.
    """
    parsed = spec if isinstance(spec, _SPECS) else read_graph(spec)
    return _Builder(allow_pickle).build(parsed)


def load_graph_served(uri: str, *, name: str | None, allow_pickle: bool) -> ServedModel:
    """A ``graph:<path>`` URI as the server serves it (named by the spec unless ``name``)."""
    from kiln.serving._loaded import ServedModel, check_served_name

    started = time.perf_counter()
    graph = load_graph(uri, allow_pickle=allow_pickle)
    return ServedModel(
        name=check_served_name(name or graph.name),
        uri=uri,
        # The server reads only flavor, signature, predict and predict_proba, which a graph has.
        predictor=cast("Predictor", graph),
        version=None,
        load_seconds=time.perf_counter() - started,
    )


@dataclass
class _Inputs:
    """The request columns of a graph: what its models take, one dtype per column."""

    specs: dict[str, ColumnSpec] = field(default_factory=dict)
    takers: dict[str, str] = field(default_factory=dict)

    def add(self, spec: ColumnSpec, where: str) -> None:
        from kiln.models import ColumnSpec

        known = self.specs.get(spec.name)
        if known is None:
            self.specs[spec.name] = spec
            self.takers[spec.name] = where
            return
        dtype = _narrower(known.dtype, spec.dtype)
        if dtype is None:
            raise InvalidInput(
                f"{where} takes {spec.name!r} as {spec.dtype} and {self.takers[spec.name]} as "
                f"{known.dtype}; one request column cannot be both",
                field=where,
            )
        self.specs[spec.name] = ColumnSpec(spec.name, dtype, known.shape)

    def signature(self, outputs: tuple[ColumnSpec, ...]) -> Signature:
        from kiln.models import Signature

        return Signature(tuple(self.specs.values()), outputs, "dataframe")


def _narrower(first: str, second: str) -> str | None:
    """The dtype both models can take (the one that casts safely to the other), if any."""
    import numpy as np

    if first == second:
        return first
    try:
        a, b = np.dtype(first), np.dtype(second)
    except TypeError:  # string, category, object: only the same name agrees
        return None
    if np.can_cast(a, b, "safe"):
        return first
    if np.can_cast(b, a, "safe"):
        return second
    return None


class _Builder:
    """Loads the models of one graph (each URI once) and assembles the predictors."""

    def __init__(self, allow_pickle: bool) -> None:
        self.allow_pickle = allow_pickle
        self.loaded: dict[str, Model] = {}

    def build(self, spec: GraphSpec) -> GraphPredictor:
        if isinstance(spec, SequenceSpec):
            return self.sequence(spec)
        if isinstance(spec, EnsembleSpec):
            return self.ensemble(spec)
        return self.router(spec)

    def member(self, ref: ModelRef, where: str) -> Member:
        model = self.load(ref, where)
        signature = model.signature
        if signature is None:
            raise InvalidInput(
                f"{where}: the model {ref} has no signature, so the graph cannot tell which "
                "columns it takes; save it with an input_example",
                field=where,
            )
        if signature.kind != "dataframe":
            raise InvalidInput(
                f"{where}: the model {ref} takes {signature.kind} input; a graph passes named "
                "columns, so its models need a dataframe signature",
                field=where,
            )
        return Member(model, tuple(signature.input_names), where)

    def load(self, ref: ModelRef, where: str) -> Model:
        if not isinstance(ref, str):
            return self.build(ref)
        if ref not in self.loaded:
            from kiln.registry import load_model

            try:
                self.loaded[ref] = load_model(ref, allow_pickle=self.allow_pickle)
            except KilnError as error:  # say which member of the spec it is
                raise type(error)(f"{where}: {error.message}", field=where) from error
        return self.loaded[ref]

    def sequence(self, spec: SequenceSpec) -> SequenceGraph:
        inputs = _Inputs()
        produced: dict[str, str] = {}
        steps = []
        for position, step in enumerate(spec.steps):
            member = self.member(step.model, step.where)
            if step.method == "predict_proba" and not hasattr(member.model, "predict_proba"):
                raise InvalidInput(
                    f"{step.where} has no predict_proba; use method: predict",
                    field=f"{step.where}.method",
                )
            for column in _signature(member).inputs:
                if column.name not in produced:
                    inputs.add(column, step.where)
            if position < len(spec.steps) - 1:
                key = "output_column" if len(step.output_columns) == 1 else "output_columns"
                for name in step.output_columns:
                    owner = inputs.takers.get(name) or produced.get(name)
                    if owner is not None:
                        does = "takes from the request" if name in inputs.specs else "adds"
                        raise InvalidInput(
                            f"{step.where} would add the column {name!r}, which {owner} "
                            f"already {does}; choose another {key}",
                            field=f"{step.where}.{key}",
                        )
                    produced[name] = step.where
            steps.append(Step(member, step.output_columns, step.method))
        last = steps[-1].member
        signature = inputs.signature(_signature(last).outputs)
        return SequenceGraph(spec.name, signature, tuple(steps))

    def ensemble(self, spec: EnsembleSpec) -> EnsembleGraph:
        from kiln.models import ColumnSpec

        inputs = _Inputs()
        members = []
        for position, ref in enumerate(spec.members):
            member = self.member(ref, f"{_at(spec.where, 'members')}[{position}]")
            for column in _signature(member).inputs:
                inputs.add(column, member.where)
            members.append(member)
        if spec.method == "predict_proba":
            for member in members:
                if not hasattr(member.model, "predict_proba"):
                    raise InvalidInput(
                        f"{member.where} has no predict_proba; use method: predict",
                        field=_at(spec.where, "method"),
                    )
        outputs = _signature(members[0]).outputs
        if spec.combine == "average":
            outputs = (ColumnSpec("output", "float64"),)
        return EnsembleGraph(
            spec.name,
            inputs.signature(outputs),
            tuple(members),
            combine=spec.combine,
            weights=spec.weights,
            method=spec.method,
        )

    def router(self, spec: RouterSpec) -> RouterGraph:
        inputs = _Inputs()
        targets = [self.member(route.model, f"{route.where}.model") for route in spec.routes]
        targets.append(self.member(spec.default, _at(spec.where, "default")))
        for target in targets:
            for column in _signature(target).inputs:
                inputs.add(column, target.where)
        dtypes = {name: column.dtype for name, column in inputs.specs.items()}
        for route in spec.routes:
            check_rule(route.when, dtypes)
        signature = inputs.signature(_signature(targets[-1]).outputs)
        rules = tuple(route.when for route in spec.routes)
        return RouterGraph(spec.name, signature, rules, tuple(targets))


def _signature(member: Member) -> Signature:
    signature = member.model.signature
    assert signature is not None  # Builder.member refused models without one
    return signature


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
