"""Autolog tests: a local store (or a live server), autolog on, and small data sets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kiln
from kiln.autolog import autolog
from kiln.context import Context
from kiln.server import create_app
from kiln.server.background import BackgroundServer
from kiln.tracking import Run, _fluent


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Context]:
    """``kiln.*`` on a local SQLite store; autolog off and runs ended afterwards."""
    context = kiln.configure(home=tmp_path / "store")
    try:
        yield context
    finally:
        autolog.disable()
        _fluent._reset_for_tests()
        kiln.configure(home=tmp_path / "after")
        kiln.get_context().close()


@pytest.fixture(params=["local", "remote"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Context]:
    """The SDK used directly, or through a live Kiln server."""
    context = kiln.configure(home=tmp_path / "store")
    server: BackgroundServer | None = None
    if request.param == "remote":
        server = BackgroundServer(create_app(Context(context.settings)))
        kiln.configure(home=tmp_path / "client", server_url=server.start())
    try:
        yield context
    finally:
        autolog.disable()
        _fluent._reset_for_tests()
        if server is not None:
            server.stop()
        kiln.configure(home=tmp_path / "after")
        kiln.get_context().close()


@pytest.fixture
def autologged(store: Context) -> Iterator[Context]:
    """The local store with ``kiln.autolog()`` on (defaults)."""
    autolog()
    yield store
    autolog.disable()


@pytest.fixture(scope="session")
def classification() -> tuple[Any, Any]:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=200, n_features=5, n_informative=3, random_state=0)
    return x, y


@pytest.fixture(scope="session")
def multiclass() -> tuple[Any, Any]:
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=1
    )
    return x, y


@pytest.fixture(scope="session")
def regression() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = x @ np.array([1.0, -2.0, 0.5, 3.0]) + rng.normal(scale=0.1, size=200)
    return x, y


def runs() -> list[Run]:
    """Every run of the default experiment, oldest first."""
    found = kiln.search_runs(order_by=["start_time ASC"])
    return sorted(found, key=lambda run: run.start_time)


def only_run() -> Run:
    found = runs()
    assert len(found) == 1, [run.name for run in found]
    return found[0]


def history(run: Run, key: str) -> list[tuple[int, float]]:
    return [(point.step, point.value) for point in kiln.get_metric_history(run.id, key)]


def artifact_paths(run: Run, path: str = "") -> set[str]:
    return {artifact.path for artifact in kiln.list_artifacts(run.id, path)}


def load_logged_model(run: Run, tmp_path: Path) -> Any:
    """The run's ``model`` as a Kiln ``Predictor``."""
    from kiln.models import download_run_model, load_model

    folder = download_run_model(run.id, "model", tmp_path / f"model-{run.id}")
    return load_model(folder)
