"""``kiln lineage NODE``: what a record was made from and what was made from it, as a tree."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from kiln.cli._app import context
from kiln.cli._output import console, print_json

if TYPE_CHECKING:
    from rich.tree import Tree

    from kiln.lineage import LineageGraph, Node
    from kiln.lineage._edges import Direction

NAME = "lineage"
HELP = "Lineage of a dataset version, step run, run or model version."


def register(app: typer.Typer) -> None:
    app.command(NAME, help=HELP)(lineage)


def lineage(
    ctx: typer.Context,
    node: str = typer.Argument(
        ...,
        help="dataset:NAME@VERSION, models:/NAME/VERSION, models:/NAME@ALIAS, run:ID, "
        "pipeline_run:ID, step_run:RUN/INVOCATION or artifact:DIGEST.",
    ),
    upstream: bool = typer.Option(False, "--upstream", help="Only what it was made from."),
    downstream: bool = typer.Option(False, "--downstream", help="Only what was made from it."),
    depth: int = typer.Option(50, "--depth", min=1, max=1000, help="How many edges to follow."),
    as_json: bool = typer.Option(False, "--json", help="Print the graph as JSON."),
) -> None:
    """Print upstream and downstream of NODE as trees; stale model versions are marked."""
    from kiln.lineage import lineage_graph

    kiln = context(ctx)
    direction: Direction = "both"
    if upstream != downstream:
        direction = "upstream" if upstream else "downstream"
    graph = kiln.db.read(
        lineage_graph, kiln.settings.project, node, direction=direction, max_depth=depth
    )
    if as_json:
        print_json(graph.to_json())
        return
    if direction in ("both", "upstream"):
        console.print(_tree(graph, upstream=True))
    if direction in ("both", "downstream"):
        console.print(_tree(graph, upstream=False))
    if graph.truncated:
        console.print(f"[yellow]the walk stopped at depth {depth} or its node limit[/]")


def _label(graph: LineageGraph, node: Node) -> str:
    from rich.markup import escape

    info = graph.info(node)
    stale = " [red](stale)[/]" if info.stale else ""
    return f"{escape(info.label)} [dim]{node.kind}:{escape(node.id[:16])}[/]{stale}"


def _tree(graph: LineageGraph, *, upstream: bool) -> Tree:
    from rich.tree import Tree

    root = Tree(
        f"[bold]{'upstream of' if upstream else 'downstream of'}[/] {_label(graph, graph.root)}"
    )
    links: dict[Node, list[tuple[Node, str]]] = {}
    for edge in graph.edges:
        if upstream:
            links.setdefault(edge.target, []).append((edge.source, edge.relation))
        else:
            links.setdefault(edge.source, []).append((edge.target, edge.relation))
    shown: set[Node] = {graph.root}

    def grow(branch: Tree, node: Node) -> None:
        for nxt, relation in sorted(links.get(node, []), key=lambda item: str(item[0])):
            if (graph.info(nxt).depth < 0) != upstream:
                continue
            child = branch.add(f"[dim]{relation}[/] {_label(graph, nxt)}")
            if nxt in shown:
                child.label = f"{child.label} [dim](shown above)[/]"
                continue
            shown.add(nxt)
            grow(child, nxt)

    grow(root, graph.root)
    if not root.children:
        root.add("[dim]nothing[/]")
    return root
