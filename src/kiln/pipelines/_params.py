"""Parameters: canonical JSON for cache keys and records, pipeline params from Python or YAML."""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kiln.errors import InvalidInput, NotFound

__all__ = ["canonical_json", "resolve_params"]


def canonical_json(value: Any, what: str) -> str:
    """``value`` as compact JSON with sorted keys; ``what`` names it in the error.

    Tuples become lists. Anything that is not a JSON value (str, int, float,
    bool, None, lists and dicts of them) is refused, because a parameter must
    have one stable text to enter a cache key and a record.
    """

    def refuse(obj: object) -> Any:
        from kiln.pipelines._graph import Output

        if isinstance(obj, Output):
            raise InvalidInput(
                f"{what} holds the output of step {obj.invocation!r} inside a structure; pass "
                "a step's output directly, or a list or dict of outputs, as an argument"
            )
        kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
        raise InvalidInput(
            f"{what} is a {kind}, not a JSON value: parameters must be str, int, float, bool, "
            "None, or lists and dicts of them; produce data in a step and pass its output instead"
        )

    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=refuse
        )
    except TypeError as exc:  # e.g. dict keys of mixed types cannot be sorted
        raise InvalidInput(f"{what} cannot be written as JSON: {exc}") from None
    except ValueError as exc:  # circular references
        raise InvalidInput(f"{what} cannot be written as JSON: {exc}") from None


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping in the YAML file ``path``."""
    import yaml

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"pipeline config {str(file)!r} does not exist") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"pipeline config {str(file)!r} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
        raise InvalidInput(
            f"pipeline config {str(file)!r} must be a mapping of parameter names to values, "
            f"got {type(data).__name__}"
        )
    return data


def resolve_params(
    fn: Callable[..., Any],
    pipeline: str,
    params: Mapping[str, Any] | None,
    config: str | os.PathLike[str] | None,
) -> dict[str, Any]:
    """The pipeline's parameters: its defaults < the YAML ``config`` < ``params``.

    Unknown names (in the file or in ``params``) raise
    :class:`~kiln.errors.InvalidInput` listing them and the known ones, and
    so does a required parameter given nowhere.
    """
    signature = inspect.signature(fn)
    accepted = [
        name
        for name, parameter in signature.parameters.items()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    ]
    open_ended = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    values: dict[str, Any] = {}
    sources: list[tuple[str, Mapping[str, Any]]] = []
    if config is not None:
        sources.append((f"config file {str(config)!r}", load_config(config)))
    if params is not None:
        if not isinstance(params, Mapping):
            raise InvalidInput(f"params must be a mapping of names to values, got {params!r}")
        sources.append(("params", params))
    for where, given in sources:
        unknown = sorted(set(given) - set(accepted))
        if unknown and not open_ended:
            known = ", ".join(accepted) or "none"
            raise InvalidInput(
                f"unknown keys in {where}: {', '.join(unknown)}; pipeline {pipeline!r} takes "
                f"these parameters: {known}"
            )
        values.update(given)
    resolved: dict[str, Any] = {}
    missing = []
    for name in accepted:
        parameter = signature.parameters[name]
        if name in values:
            resolved[name] = values.pop(name)
        elif parameter.default is not parameter.empty:
            resolved[name] = parameter.default
        else:
            missing.append(name)
    if missing:
        raise InvalidInput(
            f"pipeline {pipeline!r} needs a value for {', '.join(missing)}: pass params= or a "
            "config file"
        )
    resolved.update(values)  # the rest, for a pipeline taking **kwargs
    for name, value in resolved.items():
        canonical_json(value, f"parameter {name!r} of pipeline {pipeline!r}")
    return resolved
