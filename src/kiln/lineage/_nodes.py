"""Lineage nodes: ``(kind, id)`` pairs naming any record another record was made from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from kiln.errors import InvalidInput

__all__ = ["KINDS", "Edge", "Node", "Relation"]

#: Every node kind, with what its id is.
KINDS: Final[dict[str, str]] = {
    "dataset_version": "the version id (SHA-256 of the content)",
    "artifact": "the blob's SHA-256 digest",
    "step_run": "<pipeline run id>/<invocation>",
    "pipeline_run": "the pipeline run id",
    "run": "the tracking run id",
    "model_version": "<registered model name>/<version number>",
}


class Relation:
    """How an edge's target was made from its source."""

    #: The source was read by the target (a step loaded a dataset or a model).
    INPUT: Final = "input"
    #: The target was produced by the source (a step stored an output, started a run).
    OUTPUT: Final = "output"
    #: The target (a model version) was registered from the source (a run).
    REGISTERED: Final = "registered"
    #: The target (a cached step run) reused what the source (an earlier step run) made.
    CACHED_FROM: Final = "cached_from"


@dataclass(frozen=True, slots=True, order=True)
class Node:
    """One node of the lineage graph; ``str(node)`` is ``kind:id``."""

    kind: str
    id: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidInput(
                f"unknown lineage node kind {self.kind!r}; kinds are {', '.join(KINDS)}",
                field="kind",
            )
        if not isinstance(self.id, str) or not self.id or len(self.id) > 512:
            raise InvalidInput(
                f"a lineage node id is 1-512 characters, got {self.id!r}", field="id"
            )

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Node:
        """``kind:id`` back into a node."""
        kind, sep, ident = text.partition(":")
        if not sep:
            raise InvalidInput(f"expected kind:id, got {text!r}", field="node")
        return cls(kind, ident)

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.id}

    @classmethod
    def from_json(cls, data: Any) -> Node:
        return cls(str(data["kind"]), str(data["id"]))

    # Constructors naming each kind, so callers never spell ids by hand.
    @classmethod
    def dataset_version(cls, version_id: str) -> Node:
        return cls("dataset_version", version_id)

    @classmethod
    def artifact(cls, digest: str) -> Node:
        return cls("artifact", digest)

    @classmethod
    def step_run(cls, run_id: str, invocation: str) -> Node:
        return cls("step_run", f"{run_id}/{invocation}")

    @classmethod
    def pipeline_run(cls, run_id: str) -> Node:
        return cls("pipeline_run", run_id)

    @classmethod
    def run(cls, run_id: str) -> Node:
        return cls("run", run_id)

    @classmethod
    def model_version(cls, name: str, version: int) -> Node:
        return cls("model_version", f"{name}/{version}")


@dataclass(frozen=True, slots=True, order=True)
class Edge:
    """``source`` was used to make ``target``, as ``relation`` says."""

    source: Node
    target: Node
    relation: str

    def to_json(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "target": str(self.target),
            "relation": self.relation,
        }
