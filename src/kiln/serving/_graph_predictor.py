"""``GraphPredictor``: several loaded models behind one ``predict``, as the server calls it.

A graph looks like any model to the server: ``flavor`` (``"graph"``),
``signature`` (the columns its models take, as one dataframe signature the
server checks requests against), ``predict`` and — when its models allow —
``predict_proba``. Each call works on whole columns: a sequence calls each
step once, an ensemble each member once, a router each model once with the
rows routed to it (NumPy masks), then puts the answers back in input order.
Members are ``kiln.models.Predictor``s (or graphs), which check their own
signatures; each is given only the columns it takes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

    from kiln.models import Signature
    from kiln.serving._graph_rules import Rule

__all__ = ["EnsembleGraph", "GraphPredictor", "Member", "Model", "RouterGraph", "SequenceGraph"]

Columns = dict[str, "np.ndarray[Any, Any]"]


class Model(Protocol):
    """What a graph needs of a member: a signature and ``predict`` (a Predictor, or a graph)."""

    @property
    def signature(self) -> Signature | None: ...

    def predict(self, data: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class Member:
    """A loaded model of a graph, the columns it takes, and where the spec names it."""

    model: Model
    inputs: tuple[str, ...]
    where: str

    def call(self, method: str, columns: Columns) -> Any:
        """The member's output for the columns it takes (others are not passed on)."""
        data = {name: columns[name] for name in self.inputs}
        function: Callable[[Any], Any] = getattr(self.model, method)
        return _output(function(data))


def _output(result: Any) -> Any:
    """A model's result as NumPy: an array, or a dict of arrays for a table of outputs."""
    import numpy as np
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        return {str(name): result[name].to_numpy() for name in result.columns}
    if isinstance(result, Mapping):
        return {str(name): np.asarray(values) for name, values in result.items()}
    if isinstance(result, pd.Series):
        return result.to_numpy()
    return np.asarray(result)


class GraphPredictor:
    """Models combined as a sequence, an ensemble or a router (see ``kiln.serving``'s graphs).

    ``hasattr(graph, "predict_proba")`` says whether the graph can give
    probabilities, as for a ``Predictor``.
    """

    flavor = "graph"

    def __init__(self, name: str, kind: str, signature: Signature, *, proba: bool) -> None:
        self.name = name
        self.kind = kind
        self.signature = signature
        self._proba = proba

    def predict(self, data: Any) -> Any:
        """The graph's output for ``data`` (a DataFrame or a dict of columns)."""
        return self._run(self._columns(data), "predict")

    @property
    def predict_proba(self) -> Callable[[Any], Any]:
        """The graph's probabilities; absent when one of its models has none."""
        if not self._proba:
            raise AttributeError(f"the {self.kind} graph {self.name!r} has no predict_proba")

        def predict_proba(data: Any) -> Any:
            return self._run(self._columns(data), "predict_proba")

        return predict_proba

    def _columns(self, data: Any) -> Columns:
        """``data`` checked and cast to the graph's signature, as NumPy columns.

        The server's columns are already cast to this signature, so they are
        taken as they are: building a DataFrame to check them again would
        cost about as much as a small model's predict.
        """
        names = self.signature.input_names
        if isinstance(data, Mapping) and all(
            _ready(data.get(spec.name), spec.dtype) for spec in self.signature.inputs
        ):
            return {name: data[name] for name in names}
        frame = self.signature.enforce(data)
        return {name: frame[name].to_numpy() for name in names}

    def _run(self, columns: Columns, method: str) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<GraphPredictor {self.kind} {self.name!r} inputs={self.signature.input_names}>"


def _ready(values: Any, dtype: str) -> bool:
    """Whether a column is a 1-D array of the signature's dtype (text: an object array)."""
    import numpy as np

    if not isinstance(values, np.ndarray) or values.ndim != 1:
        return False
    found: np.dtype[Any] = values.dtype
    if dtype in ("string", "category", "object"):
        return found.kind == "O"
    return found.name == dtype


@dataclass(frozen=True, slots=True)
class Step:
    member: Member
    output_columns: tuple[str, ...]
    method: str


class SequenceGraph(GraphPredictor):
    """Each step's output becomes columns the next steps may take; the last step answers."""

    def __init__(self, name: str, signature: Signature, steps: tuple[Step, ...]) -> None:
        super().__init__(
            name, "sequence", signature, proba=hasattr(steps[-1].member.model, "predict_proba")
        )
        self.steps = steps

    def _run(self, columns: Columns, method: str) -> Any:
        columns = dict(columns)
        for step in self.steps[:-1]:
            columns.update(_as_columns(step.member.call(step.method, columns), step))
        last = self.steps[-1]
        return last.member.call(method if method == "predict_proba" else last.method, columns)


def _as_columns(output: Any, step: Step) -> Columns:
    """A step's output under its ``output_columns``: one for a 1-D array, else one per column."""
    names = step.output_columns
    if isinstance(output, dict):
        arrays = list(output.values())
    elif output.ndim == 1:
        arrays = [output]
    elif output.ndim == 2:
        arrays = [output[:, i] for i in range(output.shape[1])]
    else:
        raise ValueError(f"{step.member.where} returned an array of shape {output.shape}")
    if len(arrays) != len(names):
        raise ValueError(
            f"{step.member.where} returned {len(arrays)} columns and its output_columns name "
            f"{len(names)} ({', '.join(names)}); name one per column"
        )
    return dict(zip(names, arrays, strict=True))


class EnsembleGraph(GraphPredictor):
    """Every member sees the same rows; their outputs are averaged, voted on, or max/min."""

    def __init__(
        self,
        name: str,
        signature: Signature,
        members: tuple[Member, ...],
        *,
        combine: str,
        weights: tuple[float, ...] | None,
        method: str,
    ) -> None:
        proba = combine != "vote" and all(hasattr(m.model, "predict_proba") for m in members)
        super().__init__(name, "ensemble", signature, proba=proba)
        self.members = members
        self.combine = combine
        self.weights = weights
        self.method = method

    def _run(self, columns: Columns, method: str) -> Any:
        import numpy as np

        called = method if method == "predict_proba" else self.method
        outputs = [member.call(called, columns) for member in self.members]
        for member, output in zip(self.members, outputs, strict=True):
            if isinstance(output, dict) or output.shape != outputs[0].shape:
                raise ValueError(
                    f"the ensemble {self.name!r} combines arrays of one shape; "
                    f"{member.where} returned {_shape(output)}, {self.members[0].where} "
                    f"{_shape(outputs[0])}"
                )
        stacked = np.stack(outputs)
        if self.combine == "vote":
            return _vote(stacked.reshape(len(outputs), -1), self.weights)
        if self.combine == "max":
            return stacked.max(axis=0)
        if self.combine == "min":
            return stacked.min(axis=0)
        return np.average(stacked, axis=0, weights=self.weights)


def _shape(output: Any) -> str:
    return "a table" if isinstance(output, dict) else f"shape {tuple(output.shape)}"


def _vote(labels: np.ndarray[Any, Any], weights: tuple[float, ...] | None) -> Any:
    """The (weighted) most common label of each row; a tie goes to the smallest label."""
    import numpy as np

    members, rows = labels.shape
    classes, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(members, rows)
    votes = np.zeros((rows, len(classes)))
    everyone = np.arange(rows)
    for member in range(members):
        votes[everyone, codes[member]] += 1.0 if weights is None else weights[member]
    return classes[votes.argmax(axis=1)]


class RouterGraph(GraphPredictor):
    """Each row goes to the first route whose rule it matches, else to the default."""

    def __init__(
        self,
        name: str,
        signature: Signature,
        rules: tuple[Rule, ...],
        targets: tuple[Member, ...],
    ) -> None:
        proba = all(hasattr(target.model, "predict_proba") for target in targets)
        super().__init__(name, "router", signature, proba=proba)
        self.rules = rules
        self.targets = targets  # one per rule, then the default

    def route(self, columns: Columns) -> np.ndarray[Any, Any]:
        """The index in ``targets`` of the model each row goes to."""
        import numpy as np

        rows = len(next(iter(columns.values())))
        chosen = np.full(rows, len(self.rules), dtype=np.intp)
        for index in range(len(self.rules) - 1, -1, -1):  # backwards, so the first match wins
            chosen[self.rules[index].mask(columns)] = index
        return chosen

    def _run(self, columns: Columns, method: str) -> Any:
        import numpy as np

        chosen = self.route(columns)
        parts = []
        for index in np.unique(chosen):
            rows = np.flatnonzero(chosen == index)
            subset = (
                columns if len(rows) == len(chosen) else {k: v[rows] for k, v in columns.items()}
            )
            parts.append((rows, self.targets[index].call(method, subset)))
        if len(parts) == 1:
            return parts[0][1]
        return _reassemble(parts, len(chosen), self.name)


def _reassemble(parts: list[tuple[Any, Any]], rows: int, name: str) -> Any:
    """The routed outputs put back in input order (a dict of arrays for table outputs)."""
    outputs = [output for _, output in parts]
    if all(isinstance(output, dict) for output in outputs):
        keys = list(outputs[0])
        if any(list(output) != keys for output in outputs):
            raise ValueError(
                f"the router {name!r} got tables with different columns from its models"
            )
        return {
            key: _place([(where, output[key]) for where, output in parts], rows, name)
            for key in keys
        }
    if any(isinstance(output, dict) for output in outputs):
        raise ValueError(
            f"the router {name!r} got a table from one model and an array from another"
        )
    return _place(parts, rows, name)


def _place(parts: list[tuple[Any, Any]], rows: int, name: str) -> np.ndarray[Any, Any]:
    import numpy as np

    shapes = {array.shape[1:] for _, array in parts}
    if len(shapes) > 1:
        raise ValueError(
            f"the router {name!r} got outputs of different shapes from its models "
            f"({', '.join(str((-1, *shape)) for shape in sorted(shapes))})"
        )
    dtype = np.result_type(*(array.dtype for _, array in parts))
    result = np.empty((rows, *shapes.pop()), dtype=dtype)
    for where, array in parts:
        result[where] = array
    return result
