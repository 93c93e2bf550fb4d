"""Writing edges and walking the graph: plain functions taking a ``Session`` first."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kiln.db import utcnow
from kiln.db.tables import LineageEdgeRow
from kiln.errors import InvalidInput
from kiln.lineage._nodes import Edge, Node

__all__ = ["Direction", "Walk", "add_edges", "walk"]

Direction = Literal["upstream", "downstream", "both"]

#: A walk stops after this many nodes (and says so), so one call stays bounded.
MAX_NODES = 5000
#: Nodes asked about per query while walking (kept under SQLite's variable limit).
_BATCH = 200


def add_edges(session: Session, project_id: int, edges: Iterable[Edge]) -> int:
    """Record ``edges`` (ones already there are left alone); returns how many were new."""
    rows = [
        {
            "project_id": project_id,
            "source_kind": edge.source.kind,
            "source_id": edge.source.id,
            "target_kind": edge.target.kind,
            "target_id": edge.target.id,
            "relation": edge.relation,
            "created_at": utcnow(),
        }
        for edge in dict.fromkeys(edges)
        if edge.source != edge.target
    ]
    if not rows:
        return 0
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # One statement, compiled once per process and cached; SQLAlchemy sends the rows as
    # multi-row VALUES batches ("insertmanyvalues"), returning the ids of new rows only.
    statement = dialect.insert(LineageEdgeRow).on_conflict_do_nothing().returning(LineageEdgeRow.id)
    return len(session.execute(statement, rows).all())


@dataclass(frozen=True, slots=True)
class Walk:
    """What a walk from ``root`` reached: the nodes (with their distance) and the edges."""

    root: Node
    #: Each node reached, with its distance from the root (negative: upstream).
    depth: dict[Node, int] = field(default_factory=dict)
    edges: tuple[Edge, ...] = ()
    #: True when the walk stopped at ``max_nodes`` or ``max_depth`` before the end.
    truncated: bool = False


def _edge(row: LineageEdgeRow) -> Edge:
    return Edge(
        Node(row.source_kind, row.source_id), Node(row.target_kind, row.target_id), row.relation
    )


def _neighbours(
    session: Session, project_id: int, nodes: list[Node], downstream: bool
) -> list[Edge]:
    """The edges out of (downstream) or into (upstream) ``nodes``."""
    kind_col = LineageEdgeRow.source_kind if downstream else LineageEdgeRow.target_kind
    id_col = LineageEdgeRow.source_id if downstream else LineageEdgeRow.target_id
    found: list[Edge] = []
    for start in range(0, len(nodes), _BATCH):
        batch = nodes[start : start + _BATCH]
        query = select(LineageEdgeRow).where(
            LineageEdgeRow.project_id == project_id,
            or_(*(and_(kind_col == node.kind, id_col == node.id) for node in batch)),
        )
        found.extend(_edge(row) for row in session.scalars(query))
    return found


def walk(
    session: Session,
    project_id: int,
    root: Node,
    *,
    direction: Direction = "both",
    max_depth: int = 50,
    max_nodes: int = MAX_NODES,
) -> Walk:
    """Everything upstream and/or downstream of ``root``, breadth first.

    Upstream and downstream are walked apart: the upstream side follows
    edges backwards only, so a sibling's products are not "upstream".
    """
    if direction not in ("upstream", "downstream", "both"):
        raise InvalidInput(
            f"direction must be upstream, downstream or both, got {direction!r}",
            field="direction",
        )
    if not 1 <= max_depth <= 1000:
        raise InvalidInput(f"max_depth must be 1-1000, got {max_depth}", field="max_depth")
    depth: dict[Node, int] = {root: 0}
    edges: dict[Edge, None] = {}
    truncated = False
    sides = [
        d
        for d in (False, True)
        if direction == "both" or direction == ("downstream" if d else "upstream")
    ]
    for downstream in sides:
        frontier = [root]
        level = 0
        while frontier:
            if level == max_depth or len(depth) >= max_nodes:
                truncated = True
                break
            level += 1
            found = _neighbours(session, project_id, frontier, downstream)
            frontier = []
            for edge in found:
                edges[edge] = None
                nxt = edge.target if downstream else edge.source
                if nxt not in depth:
                    if len(depth) >= max_nodes:
                        truncated = True
                        continue
                    depth[nxt] = level if downstream else -level
                    frontier.append(nxt)
    kept = tuple(sorted(e for e in edges if e.source in depth and e.target in depth))
    return Walk(root=root, depth=depth, edges=kept, truncated=truncated)


def downstream_of(session: Session, project_id: int, root: Node) -> list[Node]:
    """Every node downstream of ``root`` (not ``root`` itself)."""
    reached = walk(session, project_id, root, direction="downstream", max_nodes=MAX_NODES)
    return [node for node, distance in reached.depth.items() if distance > 0]
