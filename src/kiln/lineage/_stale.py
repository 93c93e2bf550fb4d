"""Staleness: model versions made from something that has since been superseded.

When a dataset gets a new version, or a registered model a new version
(retrained), whatever was made from the *previous* one is out of date. The
writer that supersedes a node calls :func:`flag_superseded` in the same
transaction; it walks downstream from the old node and flags every model
version it reaches (models trained on other models' outputs included, since
the walk goes through them). Flags are records, not a computation on read, so
"which models are stale, and why" is one query and survives later changes to
the graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kiln.db import utcnow
from kiln.db.tables import StaleFlagRow
from kiln.lineage._edges import downstream_of
from kiln.lineage._nodes import Node

__all__ = ["StaleFlag", "flag_superseded", "stale_flags"]

#: Kinds that get flagged: what people deploy and must know is out of date.
FLAGGED_KINDS = frozenset({"model_version"})


@dataclass(frozen=True, slots=True)
class StaleFlag:
    """``node`` is stale because ``cause`` upstream of it was superseded by ``superseded_by``."""

    node: Node
    cause: Node
    superseded_by: Node
    reason: str
    flagged_at: datetime


def flag_superseded(
    session: Session, project_id: int, old: Node, new: Node, reason: str
) -> list[Node]:
    """Flag every model version downstream of ``old`` (now replaced by ``new``); returns them."""
    reached = [
        node
        for node in downstream_of(session, project_id, old)
        if node.kind in FLAGGED_KINDS and node != new
    ]
    if not reached:
        return []
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    now = utcnow()
    for node in reached:
        session.execute(
            dialect.insert(StaleFlagRow)
            .values(
                project_id=project_id,
                node_kind=node.kind,
                node_id=node.id,
                cause_kind=old.kind,
                cause_id=old.id,
                reason=reason,
                superseded_by_kind=new.kind,
                superseded_by_id=new.id,
                flagged_at=now,
            )
            .on_conflict_do_nothing()
        )
    return reached


def stale_flags(session: Session, project_id: int, node: Node | None = None) -> list[StaleFlag]:
    """The stale flags of ``node``, or of every node of the project; oldest first."""
    query = select(StaleFlagRow).where(StaleFlagRow.project_id == project_id)
    if node is not None:
        query = query.where(StaleFlagRow.node_kind == node.kind, StaleFlagRow.node_id == node.id)
    query = query.order_by(StaleFlagRow.flagged_at, StaleFlagRow.node_id)
    return [
        StaleFlag(
            node=Node(row.node_kind, row.node_id),
            cause=Node(row.cause_kind, row.cause_id),
            superseded_by=Node(row.superseded_by_kind, row.superseded_by_id),
            reason=row.reason,
            flagged_at=row.flagged_at,
        )
        for row in session.scalars(query)
    ]
