"""Registry fixtures: runs holding a (pretend or real) Kiln model, and the SDK local or remote."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

import kiln
from kiln.context import Context
from kiln.db import Database
from kiln.server import create_app
from kiln.server.background import BackgroundServer
from kiln.tracking import Metric, _artifacts, _experiments, _fluent, _runs

PROJECT = "default"
MakeRun = Callable[..., str]


def _seed_run(
    session: Session,
    metrics: dict[str, float],
    path: str,
    digest: str | None,
    flavor: str,
) -> str:
    experiment = _experiments.ensure_experiment(session, PROJECT, "registry-tests")
    run = _runs.create_run(session, PROJECT, experiment.id)
    _runs.log_batch(
        session,
        PROJECT,
        run.id,
        metrics=[Metric(key, value, 0, 1) for key, value in metrics.items()],
        tags=[(f"kiln.model.{path}", flavor)],
    )
    if digest is not None:
        _artifacts.record_artifact(session, PROJECT, run.id, f"{path}/kiln-model.yaml", digest, 10)
    return run.id


@pytest.fixture
def make_run(db: Database) -> MakeRun:
    """A run whose artifacts hold ``<path>/kiln-model.yaml`` (no real files: services only)."""

    def make(
        metrics: dict[str, float] | None = None,
        *,
        path: str = "model",
        digest: str | None = None,
        manifest: bool = True,
        flavor: str = "sklearn",
    ) -> str:
        digest = digest or hashlib.sha256(repr(metrics).encode() + path.encode()).hexdigest()
        return db.run(_seed_run, metrics or {}, path, digest if manifest else None, flavor)

    return make


def _serve_sdk(mode: str, tmp_path: Path, database_url: str) -> Iterator[Context]:
    store = kiln.configure(home=tmp_path / "store", database_url=database_url)
    server: BackgroundServer | None = None
    if mode == "remote":
        server = BackgroundServer(create_app(Context(store.settings)))
        url = server.start()
        kiln.configure(home=tmp_path / "client", server_url=url)
    try:
        yield store
    finally:
        _fluent._reset_for_tests()
        if server is not None:
            server.stop()
        kiln.configure(home=tmp_path / "after")
        kiln.get_context().close()


@pytest.fixture(params=["local", "remote"])
def sdk(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[Context]:
    """``kiln.*`` on SQLite/PostgreSQL, used directly or through a live server."""
    yield from _serve_sdk(request.param, tmp_path, database_url)


@pytest.fixture(params=["local", "remote"])
def sdk_sqlite(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_url: str
) -> Iterator[Context]:
    """Like ``sdk`` on SQLite only, for behaviour that does not depend on the database."""
    yield from _serve_sdk(request.param, tmp_path, sqlite_url)
