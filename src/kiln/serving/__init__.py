"""Model serving: online inference, batching, traffic, prediction log, batch scoring.

::

    kiln serve URI …  ──►  _app.create_app: /v1 predict, /v2 (Open Inference Protocol), /metrics
                              │  _inputs.py   JSON bodies → typed NumPy columns (Rows)
                              │  _v2.py       V2 tensors ↔ columns, metadata (routes: _v2_routes.py)
                              ▼
                           _models.ModelSet: ModelSpec → _loaded.ServedModel (registry
                              │  versions resolved once), one _batching.MicroBatcher per
                              ▼  model and method (adaptive micro-batches, bounded queue)
                           _metrics.ServerMetrics: Prometheus counters and histograms

    _routing.py / _bandits.py / _hashing.py   traffic: splits, sticky A/B, shadows, bandits

docs/serving.md has the details. Importing this package imports no ML or web library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiln.serving._app import create_app
    from kiln.serving._batch import BatchResult, score
    from kiln.serving._batching import MicroBatcher, Overloaded
    from kiln.serving._build import BuildResult, build
    from kiln.serving._graph import load_graph
    from kiln.serving._graph_predictor import GraphPredictor
    from kiln.serving._inputs import Rows
    from kiln.serving._loaded import ServedModel, load_served
    from kiln.serving._models import ModelSpec
    from kiln.serving._routing import Arm, BanditConfig, Route, Router, TrafficPolicy

__all__ = [
    "Arm",
    "BanditConfig",
    "BatchResult",
    "BuildResult",
    "GraphPredictor",
    "MicroBatcher",
    "ModelSpec",
    "Overloaded",
    "Route",
    "Router",
    "Rows",
    "ServedModel",
    "TrafficPolicy",
    "build",
    "create_app",
    "load_graph",
    "load_served",
    "score",
]

_HOMES = {
    "create_app": "_app",
    "BatchResult": "_batch",
    "score": "_batch",
    "BuildResult": "_build",
    "build": "_build",
    "load_graph": "_graph",
    "GraphPredictor": "_graph_predictor",
    "MicroBatcher": "_batching",
    "Overloaded": "_batching",
    "Rows": "_inputs",
    "ServedModel": "_loaded",
    "load_served": "_loaded",
    "ModelSpec": "_models",
    "Arm": "_routing",
    "BanditConfig": "_routing",
    "Route": "_routing",
    "Router": "_routing",
    "TrafficPolicy": "_routing",
}


def __getattr__(name: str) -> Any:
    """Import each public name on first use, so ``import kiln.serving`` stays light."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'kiln.serving' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"kiln.serving.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
