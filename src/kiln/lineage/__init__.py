"""Lineage: which record was made from which, across every domain, in one table.

::

    Node(kind, id)          _nodes.py      dataset_version, artifact, step_run, pipeline_run,
    Edge(source, target)                   run, model_version; "kind:id" text form
      │
    collecting() / report_used / report_made    _collector.py  what user code read and made
      │   while a step ran (no database in the worker; the engine writes the edges)
      ▼
    add_edges, walk                        _edges.py      services on a Session
    flag_superseded, stale_flags           _stale.py      model versions made from something
      │                                                   that has since been replaced
    resolve, labels                        _refs.py       dataset:tx@3, models:/fraud/2 → Node
      ▼
    lineage_graph → LineageGraph           _graph.py      upstream + downstream, labelled

This package sits below tracking, data, the registry and pipelines: each of
them reports or writes edges here, and none of them needs another to do it.
See docs/lineage.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kiln.lineage._collector import Collected, collecting, report_made, report_used
from kiln.lineage._nodes import KINDS, Edge, Node, Relation

if TYPE_CHECKING:
    from kiln.lineage._edges import Walk, add_edges, walk
    from kiln.lineage._graph import LineageGraph, NodeInfo, lineage_graph
    from kiln.lineage._refs import labels, resolve
    from kiln.lineage._stale import StaleFlag, flag_superseded, stale_flags

__all__ = [
    "KINDS",
    "Collected",
    "Edge",
    "LineageGraph",
    "Node",
    "NodeInfo",
    "Relation",
    "StaleFlag",
    "Walk",
    "add_edges",
    "collecting",
    "flag_superseded",
    "labels",
    "lineage_graph",
    "report_made",
    "report_used",
    "resolve",
    "stale_flags",
    "walk",
]

# The services import the database layer: loaded on first use, so reporting a node
# from user code (kiln.data.load in a step, kiln.start_run) costs no import.
_LAZY = {
    "LineageGraph": "kiln.lineage._graph",
    "NodeInfo": "kiln.lineage._graph",
    "StaleFlag": "kiln.lineage._stale",
    "Walk": "kiln.lineage._edges",
    "add_edges": "kiln.lineage._edges",
    "flag_superseded": "kiln.lineage._stale",
    "labels": "kiln.lineage._refs",
    "lineage_graph": "kiln.lineage._graph",
    "resolve": "kiln.lineage._refs",
    "stale_flags": "kiln.lineage._stale",
    "walk": "kiln.lineage._edges",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kiln.lineage' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
