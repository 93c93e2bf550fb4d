"""Inference-graph specs: a YAML file or a dict read into small frozen dataclasses.

::

    name: fraud-graph                     # the served name (default: the file's stem)
    kind: sequence | ensemble | router
    steps: [uri | {model, output_column | output_columns, method}, …]      # sequence
    members: [uri, …]; combine: average | vote | max | min;                  # ensemble
        weights: [w, …]; method: predict | predict_proba
    routes: [{when: rule, model: uri}, …]; default: uri                      # router

A model reference is a model URI (anything ``kiln.registry.load_model``
takes), ``graph:<path>`` (another spec file) or an inline spec (a mapping
with ``kind``). Relative paths in a file are relative to that file. Reading
a spec loads no model: every error here is about the spec's shape, and its
``field`` is the spec path of the bad value (``routes[1].when.op``, nested
as ``members[0].steps[1].model``). What can only be checked against the
models' signatures is checked when the graph is loaded (``_graph.py``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.errors import InvalidInput, NotFound
from kiln.serving._graph_rules import Rule, parse_rule

__all__ = [
    "COMBINES",
    "KINDS",
    "EnsembleSpec",
    "GraphSpec",
    "ModelRef",
    "RouteSpec",
    "RouterSpec",
    "SequenceSpec",
    "StepSpec",
    "model_uris",
    "read_graph",
]

KINDS = ("sequence", "ensemble", "router")
COMBINES = ("average", "vote", "max", "min")
_METHODS = ("predict", "predict_proba")
_COMMON = ("name", "kind", "description")
_KEYS = {
    "sequence": (*_COMMON, "steps"),
    "ensemble": (*_COMMON, "members", "combine", "weights", "method"),
    "router": (*_COMMON, "routes", "default"),
}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
PREFIX = "graph:"


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One step of a sequence: its model, the columns its output becomes, the method it runs."""

    model: ModelRef
    output_columns: tuple[str, ...]
    method: str
    where: str


@dataclass(frozen=True, slots=True)
class SequenceSpec:
    """Each step's output is added to the columns the next step may take."""

    name: str
    steps: tuple[StepSpec, ...]
    where: str = ""
    kind: str = "sequence"


@dataclass(frozen=True, slots=True)
class EnsembleSpec:
    """Every member sees the same rows; their outputs are combined row by row."""

    name: str
    members: tuple[ModelRef, ...]
    combine: str = "average"
    weights: tuple[float, ...] | None = None
    method: str = "predict"
    where: str = ""
    kind: str = "ensemble"


@dataclass(frozen=True, slots=True)
class RouteSpec:
    when: Rule
    model: ModelRef
    where: str


@dataclass(frozen=True, slots=True)
class RouterSpec:
    """Each row goes to the model of the first route whose rule it matches, else ``default``."""

    name: str
    routes: tuple[RouteSpec, ...]
    default: ModelRef
    where: str = ""
    kind: str = "router"


GraphSpec = SequenceSpec | EnsembleSpec | RouterSpec
#: A model URI, or a graph (inline, or read from a ``graph:`` file).
ModelRef = str | SequenceSpec | EnsembleSpec | RouterSpec


def read_graph(source: str | os.PathLike[str] | Mapping[str, Any]) -> GraphSpec:
    """The spec in a YAML file (a path, or ``graph:<path>``) or a mapping, checked."""
    if isinstance(source, Mapping):
        return _parse(source, "", None, "graph", ())
    return _read_file(_graph_path(os.fspath(source), None), "", ())


def model_uris(spec: GraphSpec) -> list[str]:
    """Every model URI a graph uses, nested graphs included, once each (loads nothing)."""
    refs: list[ModelRef]
    if isinstance(spec, SequenceSpec):
        refs = [step.model for step in spec.steps]
    elif isinstance(spec, EnsembleSpec):
        refs = list(spec.members)
    else:
        refs = [route.model for route in spec.routes] + [spec.default]
    found: list[str] = []
    for ref in refs:
        for uri in [ref] if isinstance(ref, str) else model_uris(ref):
            if uri not in found:
                found.append(uri)
    return found


def _graph_path(text: str, base: Path | None) -> Path:
    path = Path(text.removeprefix(PREFIX)).expanduser()
    return path if path.is_absolute() or base is None else base / path


def _read_file(path: Path, where: str, stack: tuple[Path, ...]) -> GraphSpec:
    import yaml

    resolved = path.resolve()
    if resolved in stack:
        chain = " → ".join(p.name for p in (*stack, resolved))
        raise InvalidInput(f"the graph {path} includes itself ({chain})", field=where or None)
    if not resolved.is_file():
        raise NotFound(f"no graph spec at {path}", field=where or None)
    try:
        data = yaml.safe_load(resolved.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path} is not valid YAML: {exc}", field=where or None) from None
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{path} must hold a mapping with 'kind'", field=where or None)
    return _parse(data, where, resolved.parent, resolved.stem, (*stack, resolved))


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _parse(
    data: Mapping[str, Any], where: str, base: Path | None, stem: str, stack: tuple[Path, ...]
) -> GraphSpec:
    kind = data.get("kind")
    if kind not in KINDS:
        raise InvalidInput(
            f"{_at(where, 'kind')} must be one of {', '.join(KINDS)}, got {kind!r}",
            field=_at(where, "kind"),
        )
    extra = sorted(str(key) for key in data if key not in _KEYS[kind])
    if extra:
        raise InvalidInput(
            f"a {kind} graph has no {extra[0]!r}; it takes {', '.join(_KEYS[kind])}",
            field=_at(where, extra[0]),
        )
    name = data.get("name", stem)
    if not isinstance(name, str) or not name:
        raise InvalidInput("a graph's name must be a non-empty string", field=_at(where, "name"))
    reader = _Reader(base, stack)
    if kind == "sequence":
        return SequenceSpec(name, reader.steps(data.get("steps"), _at(where, "steps")), where)
    if kind == "ensemble":
        return reader.ensemble(name, data, where)
    return reader.router(name, data, where)


@dataclass(frozen=True, slots=True)
class _Reader:
    """Reads the parts of one spec: ``base`` resolves its relative paths, ``stack`` finds cycles."""

    base: Path | None
    stack: tuple[Path, ...]

    def ref(self, value: Any, where: str) -> ModelRef:
        if isinstance(value, Mapping):
            stem = re.sub(r"[^A-Za-z0-9_]+", "-", where).strip("-")  # inline: named by its path
            return _parse(value, where, self.base, stem, self.stack)
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(
                f"{where} must be a model URI, graph:<path> or an inline graph", field=where
            )
        if value.startswith(PREFIX):
            return _read_file(_graph_path(value, self.base), where, self.stack)
        if _SCHEME.match(value) or self.base is None or Path(value).is_absolute():
            return value
        return str(self.base / value)

    def steps(self, value: Any, where: str) -> tuple[StepSpec, ...]:
        if not isinstance(value, list) or not value:
            raise InvalidInput(f"{where} must be a non-empty list of models", field=where)
        return tuple(self.step(item, f"{where}[{i}]") for i, item in enumerate(value))

    def step(self, value: Any, where: str) -> StepSpec:
        options: Mapping[str, Any] = {}
        if isinstance(value, Mapping) and "kind" not in value:
            options = value
            allowed = ("model", "output_column", "output_columns", "method")
            extra = sorted(str(key) for key in options if key not in allowed)
            if extra:
                raise InvalidInput(
                    f"a step has no {extra[0]!r}; it takes {', '.join(allowed)}",
                    field=f"{where}.{extra[0]}",
                )
            if "model" not in options:
                raise InvalidInput(f"{where} has no 'model'", field=f"{where}.model")
            model = self.ref(options["model"], f"{where}.model")
        else:
            model = self.ref(value, where)
        method = options.get("method", "predict")
        if method not in _METHODS:
            raise InvalidInput(
                f"{where}.method must be predict or predict_proba, got {method!r}",
                field=f"{where}.method",
            )
        return StepSpec(model, _output_columns(options, model, where), method, where)

    def ensemble(self, name: str, data: Mapping[str, Any], where: str) -> EnsembleSpec:
        members = data.get("members")
        at = _at(where, "members")
        if not isinstance(members, list) or not members:
            raise InvalidInput(f"{at} must be a non-empty list of models", field=at)
        refs = tuple(self.ref(item, f"{at}[{i}]") for i, item in enumerate(members))
        combine = data.get("combine", "average")
        if combine not in COMBINES:
            raise InvalidInput(
                f"combine must be one of {', '.join(COMBINES)}, got {combine!r}",
                field=_at(where, "combine"),
            )
        method = data.get("method", "predict")
        if method not in _METHODS:
            raise InvalidInput(
                f"method must be predict or predict_proba, got {method!r}",
                field=_at(where, "method"),
            )
        if combine == "vote" and method != "predict":
            raise InvalidInput(
                "a vote counts the members' predicted labels: use method: predict, or "
                "combine: average to average probabilities",
                field=_at(where, "method"),
            )
        weights = _weights(data.get("weights"), len(refs), combine, _at(where, "weights"))
        return EnsembleSpec(name, refs, combine, weights, method, where)

    def router(self, name: str, data: Mapping[str, Any], where: str) -> RouterSpec:
        routes = data.get("routes")
        at = _at(where, "routes")
        if not isinstance(routes, list) or not routes:
            raise InvalidInput(f"{at} must be a non-empty list of {{when, model}}", field=at)
        parsed = []
        for i, route in enumerate(routes):
            here = f"{at}[{i}]"
            if not isinstance(route, Mapping):
                raise InvalidInput(f"{here} must be a mapping with when and model", field=here)
            for key in route:
                if key not in ("when", "model"):
                    raise InvalidInput(
                        f"a route has no {key!r}; it takes when and model", field=f"{here}.{key}"
                    )
            for key in ("when", "model"):
                if key not in route:
                    raise InvalidInput(f"{here} has no {key!r}", field=f"{here}.{key}")
            rule = parse_rule(route["when"], f"{here}.when")
            parsed.append(RouteSpec(rule, self.ref(route["model"], f"{here}.model"), here))
        if "default" not in data:
            # Required: in a micro-batch, refusing one unmatched row would fail its batch-mates.
            raise InvalidInput(
                "a router needs a default model for rows no rule matches",
                field=_at(where, "default"),
            )
        default = self.ref(data["default"], _at(where, "default"))
        return RouterSpec(name, tuple(parsed), default, where)


def _output_columns(options: Mapping[str, Any], model: ModelRef, where: str) -> tuple[str, ...]:
    """The names a step's output is added under: one column, or one per output column."""
    one, several = options.get("output_column"), options.get("output_columns")
    if one is not None and several is not None:
        raise InvalidInput(
            "give output_column (one output) or output_columns (several), not both",
            field=f"{where}.output_columns",
        )
    if several is not None:
        if (
            not isinstance(several, list)
            or not several
            or not all(isinstance(name, str) and name for name in several)
            or len(set(several)) != len(several)
        ):
            raise InvalidInput(
                f"{where}.output_columns must be a list of distinct names",
                field=f"{where}.output_columns",
            )
        return tuple(several)
    if one is None:
        from kiln.serving._loaded import served_name

        one = model.name if not isinstance(model, str) else served_name(model)
    if not isinstance(one, str) or not one:
        raise InvalidInput(
            f"{where}.output_column must be a column name", field=f"{where}.output_column"
        )
    return (one,)


def _weights(value: Any, members: int, combine: str, where: str) -> tuple[float, ...] | None:
    if value is None:
        return None
    if combine in ("max", "min"):
        raise InvalidInput(f"weights apply to average and vote, not {combine}", field=where)
    if not isinstance(value, list) or len(value) != members:
        raise InvalidInput(
            f"weights must be a list of {members} numbers, one per member", field=where
        )
    for i, weight in enumerate(value):
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not math.isfinite(weight)
            or weight < 0
        ):
            raise InvalidInput(
                f"weights[{i}] must be a number >= 0, got {weight!r}", field=f"{where}[{i}]"
            )
    if not sum(value) > 0:
        raise InvalidInput(
            "the weights add up to 0: give at least one member a weight", field=where
        )
    return tuple(float(weight) for weight in value)
