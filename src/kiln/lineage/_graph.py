"""The lineage graph around one node, labelled and flagged, as the CLI, API and UI show it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from kiln.auth import project_id as _project_id
from kiln.lineage._edges import Direction, walk
from kiln.lineage._nodes import Edge, Node
from kiln.lineage._refs import labels, resolve
from kiln.lineage._stale import StaleFlag, stale_flags

__all__ = ["LineageGraph", "NodeInfo", "lineage_graph"]


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node of a graph, with its label, distance from the root and stale flags."""

    node: Node
    label: str
    #: Distance from the root: negative upstream, positive downstream, 0 the root.
    depth: int
    stale: tuple[StaleFlag, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "node": str(self.node),
            "kind": self.node.kind,
            "id": self.node.id,
            "label": self.label,
            "depth": self.depth,
            "stale": [
                {
                    "cause": str(flag.cause),
                    "superseded_by": str(flag.superseded_by),
                    "reason": flag.reason,
                    "flagged_at": flag.flagged_at.isoformat(),
                }
                for flag in self.stale
            ],
        }


@dataclass(frozen=True, slots=True)
class LineageGraph:
    """What is upstream and downstream of ``root``."""

    root: Node
    nodes: tuple[NodeInfo, ...]
    edges: tuple[Edge, ...]
    truncated: bool

    def info(self, node: Node) -> NodeInfo:
        for info in self.nodes:
            if info.node == node:
                return info
        raise KeyError(str(node))

    def upstream(self) -> list[NodeInfo]:
        return [info for info in self.nodes if info.depth < 0]

    def downstream(self) -> list[NodeInfo]:
        return [info for info in self.nodes if info.depth > 0]

    def to_json(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "nodes": [info.to_json() for info in self.nodes],
            "edges": [edge.to_json() for edge in self.edges],
            "truncated": self.truncated,
        }


def lineage_graph(
    session: Session,
    project: str,
    node: Node | str,
    *,
    direction: Direction = "both",
    max_depth: int = 50,
) -> LineageGraph:
    """The graph around ``node`` (a :class:`Node` or a reference such as ``dataset:tx@3``)."""
    project_id = _project_id(session, project)
    root = node if isinstance(node, Node) else resolve(session, project_id, node)
    reached = walk(session, project_id, root, direction=direction, max_depth=max_depth)
    names = labels(session, project_id, reached.depth)
    flags: dict[Node, list[StaleFlag]] = {}
    for flag in stale_flags(session, project_id):
        if flag.node in reached.depth:
            flags.setdefault(flag.node, []).append(flag)
    ordered = sorted(reached.depth.items(), key=lambda item: (item[1], str(item[0])))
    return LineageGraph(
        root=root,
        nodes=tuple(
            NodeInfo(node, names[node], depth, tuple(flags.get(node, ())))
            for node, depth in ordered
        ),
        edges=reached.edges,
        truncated=reached.truncated,
    )
