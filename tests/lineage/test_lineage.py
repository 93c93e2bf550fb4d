"""Lineage on SQLite and PostgreSQL: edges written by pipelines, data and the registry; walks;
stale flags when a dataset gets a new version or a model is retrained."""

from __future__ import annotations

import itertools
import threading

import pytest

import kiln.data
from kiln.auth import project_id
from kiln.context import Context, using_context
from kiln.errors import InvalidInput, NotFound
from kiln.lineage import (
    Edge,
    Node,
    Relation,
    add_edges,
    collecting,
    lineage_graph,
    report_used,
    resolve,
    stale_flags,
    walk,
)
from tests.pipelines import _gated


def _pid(context: Context) -> int:
    return context.db.read(project_id, "default")


def test_edges_are_idempotent_and_walks_go_both_ways(context: Context) -> None:
    a, b, c, d = (Node.artifact(ch * 64) for ch in "abcd")
    pid = _pid(context)
    edges = [Edge(a, b, Relation.INPUT), Edge(b, c, Relation.OUTPUT), Edge(d, c, Relation.INPUT)]
    assert context.db.run(add_edges, pid, edges) == 3
    assert context.db.run(add_edges, pid, edges) == 0  # already there

    down = context.db.read(walk, pid, a, direction="downstream")
    assert down.depth == {a: 0, b: 1, c: 2}
    up = context.db.read(walk, pid, c, direction="upstream")
    assert up.depth == {c: 0, b: -1, d: -1, a: -2}
    # A sibling's source (d) is not downstream of a.
    assert d not in context.db.read(walk, pid, b).depth


def test_concurrent_writers_lose_no_edges(context: Context) -> None:
    pid = _pid(context)
    root = Node.artifact("0" * 64)

    def write(worker: int) -> None:
        for i in range(20):
            edge = Edge(root, Node.artifact(f"{worker}{i:02d}".ljust(64, "f")), Relation.OUTPUT)
            context.db.run(add_edges, pid, [edge, Edge(root, edge.target, Relation.OUTPUT)])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(context.db.read(walk, pid, root).depth) == 1 + 80


def test_a_walk_is_bounded(context: Context) -> None:
    pid = _pid(context)
    chain = [Node.artifact(f"{i:064x}") for i in range(30)]
    context.db.run(
        add_edges,
        pid,
        [Edge(x, y, Relation.OUTPUT) for x, y in itertools.pairwise(chain)],
    )
    reached = context.db.read(walk, pid, chain[0], direction="downstream", max_depth=5)
    assert reached.truncated
    assert max(reached.depth.values()) == 5
    with pytest.raises(InvalidInput, match="direction"):
        context.db.read(walk, pid, chain[0], direction="sideways")  # type: ignore[arg-type]


def test_reports_outside_a_scope_are_ignored_and_scopes_nest() -> None:
    node = Node.run("r" * 32)
    report_used(node)  # no scope: nothing happens
    with collecting() as outer:
        with collecting() as inner:
            report_used(node)
        report_used(Node.run("s" * 32))
    assert inner.used == [node]
    assert outer.used == [Node.run("s" * 32)]


def test_a_pipeline_links_dataset_step_run_and_model_version(context: Context) -> None:
    with using_context(context):
        first = kiln.data.register_dataset(_gated.REFERENCE, "events")
    run = _gated.training.run({"ref": "events@1"}, context=context)
    step = Node.step_run(run.id, "train")
    model = Node.model_version("scorer", 1)
    dataset = Node.dataset_version(first.version_id)

    graph = context.db.read(lineage_graph, "default", "dataset:events@1", direction="downstream")
    reached = {info.node for info in graph.nodes}
    assert {dataset, step, model} <= reached
    tracking_run = [info for info in graph.nodes if info.node.kind == "run"]
    assert len(tracking_run) == 1
    assert Edge(tracking_run[0].node, model, Relation.REGISTERED) in graph.edges
    assert graph.info(dataset).label == "events@1"
    assert graph.info(model).label == "scorer v1"

    upstream = context.db.read(lineage_graph, "default", "models:/scorer/1", direction="upstream")
    assert dataset in {info.node for info in upstream.upstream()}
    assert upstream.info(model).stale == ()


def test_new_data_and_retraining_flag_downstream_models_stale(context: Context) -> None:
    with using_context(context):
        kiln.data.register_dataset(_gated.REFERENCE, "events")
    _gated.training.run({"ref": "events@1"}, context=context)
    pid = _pid(context)
    assert context.db.read(stale_flags, pid) == []

    with using_context(context):
        second = kiln.data.register_dataset(_gated.drifted(), "events")
    [flag] = context.db.read(stale_flags, pid)
    assert flag.node == Node.model_version("scorer", 1)
    assert flag.superseded_by == Node.dataset_version(second.version_id)
    assert "events@2" in flag.reason

    # Retraining on the new version makes scorer v2; it is not stale, v1 stays flagged.
    _gated.training.run({"ref": "events@2"}, context=context)
    flagged = {f.node for f in context.db.read(stale_flags, pid)}
    assert flagged == {Node.model_version("scorer", 1)}
    graph = context.db.read(lineage_graph, "default", "models:/scorer/1")
    assert graph.info(Node.model_version("scorer", 1)).stale


def test_a_model_trained_on_another_models_output_goes_stale_when_it_is_retrained(
    context: Context,
) -> None:
    pid = _pid(context)
    upstream_v1 = Node.model_version("embedder", 1)
    step = Node.step_run("a" * 32, "train")
    downstream_v1 = Node.model_version("ranker", 1)
    context.db.run(
        add_edges,
        pid,
        [Edge(upstream_v1, step, Relation.INPUT), Edge(step, downstream_v1, Relation.OUTPUT)],
    )
    from kiln.lineage import flag_superseded

    flagged = context.db.run(
        flag_superseded, pid, upstream_v1, Node.model_version("embedder", 2), "retrained"
    )
    assert flagged == [downstream_v1]


def test_references_resolve_or_say_what_is_wrong(context: Context) -> None:
    with using_context(context):
        version = kiln.data.register_dataset(_gated.REFERENCE, "events")
    pid = _pid(context)
    assert context.db.read(resolve, pid, "dataset:events") == Node.dataset_version(
        version.version_id
    )
    assert context.db.read(resolve, pid, f"dataset:events@{version.version_id[:10]}").id == (
        version.version_id
    )
    assert context.db.read(resolve, pid, f"artifact:{'a' * 64}") == Node.artifact("a" * 64)
    with pytest.raises(NotFound, match="no dataset 'nope'"):
        context.db.read(resolve, pid, "dataset:nope@1")
    with pytest.raises(NotFound, match="does not exist"):
        context.db.read(resolve, pid, "dataset:events@9")
    with pytest.raises(NotFound, match="no version 3"):
        context.db.read(resolve, pid, "models:/scorer/3")
    with pytest.raises(InvalidInput, match="unknown node kind"):
        context.db.read(resolve, pid, "table:x")
    with pytest.raises(InvalidInput, match="expected a lineage node"):
        context.db.read(resolve, pid, "events")
    with pytest.raises(NotFound, match="no pipeline run"):
        context.db.read(resolve, pid, f"pipeline_run:{'f' * 32}")
