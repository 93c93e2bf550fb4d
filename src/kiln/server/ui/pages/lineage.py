"""Lineage: the graph around any node — what it was made from, what was made from it.

``/lineage?node=REF`` takes every reference ``kiln lineage`` takes
(``dataset:NAME@VERSION``, ``models:/NAME/VERSION``, ``run:ID``,
``pipeline_run:ID``, ``step_run:RUN/INVOCATION``, ``kind:id``). The graph
is drawn with the root in the middle column, upstream to the left and
downstream to the right, one column per edge of distance; stale model
versions are marked in the picture and listed with the reason. Each box
re-centres the graph on its node; the lists beside it also link to the
node's own page (a dataset version, a run, a pipeline run, a model version).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from markupsafe import Markup
from starlette.responses import Response

from kiln.lineage import LineageGraph, NodeInfo
from kiln.server.deps import DbDep
from kiln.server.ui import _dag
from kiln.server.ui._route import UiRoute
from kiln.server.ui._session import Reader
from kiln.server.ui._templates import render
from kiln.server.ui.pages.pipelines import run_url, step_anchor

router = APIRouter(route_class=UiRoute)

#: The page's default walk depth (the API's is 50): a few hops read best as a picture.
DEFAULT_DEPTH = 4
MAX_DEPTH = 50
#: Graphs with more nodes are listed, not drawn.
MAX_DRAWN = 200
_DATASET_LABEL = re.compile(r"^(?P<name>.+)@(?P<version>\d+)$")
_KIND_LABELS = {
    "dataset_version": "dataset version",
    "artifact": "artifact",
    "step_run": "step run",
    "pipeline_run": "pipeline run",
    "run": "tracking run",
    "model_version": "model version",
}


def lineage_url(ref: str, direction: str = "both", depth: int = DEFAULT_DEPTH) -> str:
    params = {"node": ref}
    if direction != "both":
        params["direction"] = direction
    if depth != DEFAULT_DEPTH:
        params["depth"] = str(depth)
    return "/lineage?" + urlencode(params)


def page_of(info: NodeInfo) -> str | None:
    """The UI page of a node's own record, when it has one."""
    kind, ident = info.node.kind, info.node.id
    if kind == "dataset_version":
        match = _DATASET_LABEL.match(info.label)
        if match:
            return f"/datasets/{quote(match['name'], safe='')}/versions/{match['version']}"
        return None
    if kind == "model_version":
        name, _, version = ident.rpartition("/")
        return f"/models/{quote(name, safe='')}/versions/{quote(version, safe='')}"
    if kind == "run":
        return f"/runs/{quote(ident, safe='')}"
    if kind == "pipeline_run":
        return run_url(ident)
    if kind == "step_run":
        run_id, _, invocation = ident.partition("/")
        return f"{run_url(run_id)}#{step_anchor(invocation)}"
    return None


@dataclass(frozen=True, slots=True)
class Listed:
    """A node as the lists show it."""

    info: NodeInfo
    kind: str
    page: str | None
    lineage: str


def _heading(depth: int) -> str:
    if depth == 0:
        return "This node"
    return f"{abs(depth)} up" if depth < 0 else f"{depth} down"


def _drawing(graph: LineageGraph, title: str) -> Markup:
    depths = sorted({info.depth for info in graph.nodes})
    columns: list[list[_dag.Box]] = []
    for depth in depths:
        column = []
        for info in graph.nodes:
            if info.depth != depth:
                continue
            stale = bool(info.stale)
            kind = _KIND_LABELS.get(info.node.kind, info.node.kind)
            classes = f"lineage-kind-{info.node.kind}" + (" stale" if stale else "")
            classes += " root" if info.node == graph.root else ""
            detail = f"{kind} · stale" if stale else kind
            reasons = "; ".join(flag.reason for flag in info.stale)
            column.append(
                _dag.Box(
                    str(info.node),
                    info.label,
                    detail,
                    lineage_url(str(info.node)),
                    classes,
                    f"{detail}{': ' + reasons if reasons else ''}",
                )
            )
        columns.append(column)
    edges = [(str(edge.source), str(edge.target)) for edge in graph.edges]
    return _dag.draw(columns, edges, title, headings=[_heading(d) for d in depths])


@router.get("/lineage")
def lineage_page(
    request: Request,
    db: DbDep,
    viewing: Reader,
    node: Annotated[str, Query(max_length=600)] = "",
    direction: Literal["upstream", "downstream", "both"] = "both",
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = DEFAULT_DEPTH,
) -> Response:
    """A form for a node reference and, given one, its graph, lists and stale flags."""
    from kiln.lineage import lineage_graph

    graph = None
    if node.strip():
        graph = db.read(
            lineage_graph, viewing.project, node.strip(), direction=direction, max_depth=depth
        )
    listed: dict[str, list[Listed]] = {"upstream": [], "downstream": []}
    root: Listed | None = None
    drawing = Markup("")
    if graph is not None:
        for info in graph.nodes:
            item = Listed(
                info,
                _KIND_LABELS.get(info.node.kind, info.node.kind),
                page_of(info),
                lineage_url(str(info.node)),
            )
            if info.depth == 0:
                root = item
            else:
                listed["upstream" if info.depth < 0 else "downstream"].append(item)
        if len(graph.nodes) <= MAX_DRAWN:
            drawing = _drawing(graph, f"Lineage of {root.info.label if root else node}")
    labels = {str(info.node): info.label for info in graph.nodes} if graph else {}
    return render(
        request,
        "lineage.html",
        viewing,
        title=f"Lineage of {root.info.label}" if root else "Lineage",
        node=node,
        direction=direction,
        depth=depth,
        graph=graph,
        root=root,
        upstream=listed["upstream"],
        downstream=listed["downstream"],
        stale=[item for items in listed.values() for item in items if item.info.stale]
        + ([root] if root is not None and root.info.stale else []),
        drawing=drawing,
        too_many=graph is not None and len(graph.nodes) > MAX_DRAWN,
        max_drawn=MAX_DRAWN,
        labels=labels,
        max_depth=MAX_DEPTH,
    )
