"""A model loaded for serving: the predictor plus what the server needs to know about it.

The server names each model (the ``{name}`` of its URLs), answers metadata
from its signature, records which registered version answered, and — when
the version was trained from the feature store — fetches its features from
the online store. ``load_served`` resolves a URI once, so an alias that
moves later does not change what an already-loaded model is.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput

if TYPE_CHECKING:
    from kiln.features import TrainingFeatures
    from kiln.models import Predictor, Signature
    from kiln.registry import ModelVersion

__all__ = ["METHODS", "ServedModel", "load_served", "served_name"]

#: What a request may ask a model for.
METHODS = ("predict", "predict_proba")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


@dataclass(frozen=True, slots=True)
class ServedModel:
    """One loaded model: ``name`` in URLs, the ``uri`` asked for, the version that answered."""

    name: str
    uri: str
    predictor: Predictor
    version: ModelVersion | None
    load_seconds: float
    features: TrainingFeatures | None = None

    @property
    def signature(self) -> Signature | None:
        return self.predictor.signature

    @property
    def version_label(self) -> str:
        """The registered version number as text ("" for a run or folder)."""
        return "" if self.version is None else str(self.version.version)

    @property
    def methods(self) -> tuple[str, ...]:
        return METHODS if hasattr(self.predictor, "predict_proba") else METHODS[:1]

    def call(self, method: str, data: Any) -> Any:
        """``predict`` or ``predict_proba`` on ``data`` (already checked and cast)."""
        if method == "predict_proba":
            return self.predictor.predict_proba(data)
        return self.predictor.predict(data)


def served_name(uri: str) -> str:
    """The default URL name of a model: the registered name, else the folder or run path's."""
    text = str(uri).rstrip("/")
    if text.startswith("graph:"):  # the spec names the graph (by default, its file)
        from kiln.serving._graph_spec import read_graph

        text = read_graph(text).name
    elif text.startswith("models:/"):
        rest = text.removeprefix("models:/")
        text = rest.split("@", 1)[0].split("/", 1)[0]
    else:
        text = Path(text.removeprefix("runs:/")).name or "model"
    name = re.sub(r"[^A-Za-z0-9_.\-]", "-", text).strip("-.") or "model"
    return name[:128]


def check_served_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"a served model name must be 1-128 letters, digits, '_', '.' or '-', got {name!r}",
            field="name",
        )
    return name


def load_served(
    uri: str | os.PathLike[str], *, name: str | None = None, allow_pickle: bool = False
) -> ServedModel:
    """Load ``uri`` (``models:/name@alias``, ``models:/name/3``, ``runs:/…``, a folder).

    A ``models:/`` URI is resolved to its version first and that version is
    loaded, so the server reports the version that answered each request.
    """
    from kiln.features import TrainingFeatures
    from kiln.registry import load_model
    from kiln.registry._fluent import resolve_version

    text = os.fspath(uri)
    if text.startswith("graph:"):  # several models as one: _graph.py
        from kiln.serving._graph import load_graph_served

        return load_graph_served(text, name=name, allow_pickle=allow_pickle)
    started = time.perf_counter()
    rest = text.removeprefix("models:/") if text.startswith("models:/") else None
    # models:/name/3 and models:/name@alias are versions; models:/m-<id> is an MLflow model.
    version = resolve_version(text) if rest and ("/" in rest or "@" in rest) else None
    target = version.uri if version is not None else text
    predictor = load_model(target, allow_pickle=allow_pickle)
    return ServedModel(
        name=check_served_name(name or served_name(text)),
        uri=text,
        predictor=predictor,
        version=version,
        load_seconds=time.perf_counter() - started,
        features=TrainingFeatures.from_tags(version.tags) if version is not None else None,
    )
