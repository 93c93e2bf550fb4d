"""``/api/v1/lineage``: the graph around one node — what it was made from, what was made from it.

``node`` is any reference ``kiln lineage`` takes: ``dataset:NAME@VERSION``,
``models:/NAME/VERSION``, ``models:/NAME@ALIAS``, ``run:ID``,
``pipeline_run:ID``, ``step_run:RUN/INVOCATION``, ``artifact:DIGEST`` or
``kind:id``. The answer is ``LineageGraph.to_json()``: the root, the nodes
with their labels, distance from the root (negative upstream) and stale
flags, the edges, and whether the walk stopped at its bounds.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from kiln.server.deps import DbDep, RequestProject, Viewer
from kiln.server.responses import JSONResponse

router = APIRouter(prefix="/lineage", tags=["lineage"])

#: Edges a walk may follow from the root (the CLI's ``--depth`` bound).
MAX_DEPTH = 1000


@router.get("")
def get_lineage(
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    node: Annotated[str, Query(min_length=3, max_length=600)],
    direction: Literal["upstream", "downstream", "both"] = "both",
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = 50,
) -> JSONResponse:
    from kiln.lineage import lineage_graph

    graph = db.read(lineage_graph, project, node, direction=direction, max_depth=depth)
    return JSONResponse(graph.to_json())
