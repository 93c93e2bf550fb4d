"""The cache key of a step invocation.

``sha256`` over one canonical JSON document holding:

- ``format``: the version of this rule (a new rule never matches old keys);
- ``source``: :func:`~kiln.pipelines._source.source_digest` of the step's
  function and the project code it reaches;
- ``params``: the step's parameters, as canonical JSON;
- ``inputs``: for each input argument, the content digest of every upstream
  output with the ``name@version`` of the materializer that stored it.

The output's materializer is not known before the step runs, so it is
checked when the entry is read instead: a cache entry is a hit only if the
materializer that wrote it still has the same version and every blob it
needs is still in the artifact store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from kiln.pipelines._entities import OutputRef
from kiln.pipelines._params import canonical_json
from kiln.pipelines._task import InputRefs

__all__ = ["CACHE_FORMAT", "cache_key"]

#: Bumped whenever what enters the key changes.
CACHE_FORMAT = 1


def _ref(ref: OutputRef) -> str:
    return f"{ref.materializer}@{ref.version}:{ref.digest}"


def _input(refs: InputRefs) -> Any:
    if isinstance(refs, OutputRef):
        return _ref(refs)
    if isinstance(refs, dict):
        return {key: _ref(ref) for key, ref in refs.items()}
    return [_ref(ref) for ref in refs]


def cache_key(
    *, source: str, params: Mapping[str, Any], inputs: Mapping[str, InputRefs], step: str
) -> str:
    """The key of a step invocation; ``step`` only names it in errors."""
    document = {
        "format": CACHE_FORMAT,
        "source": source,
        "params": dict(params),
        "inputs": {name: _input(refs) for name, refs in inputs.items()},
    }
    text = canonical_json(document, f"the parameters of step {step!r}")
    return hashlib.sha256(text.encode()).hexdigest()
