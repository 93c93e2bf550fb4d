"""Runners for the conformance suite, kept open for the whole session (workers are costly)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from kiln.context import Context
from kiln.pipelines import ParallelRunner, Runner, SequentialRunner

#: Every runner passes tests/pipelines/test_runners.py; a new runner joins by adding itself here.
RUNNERS: dict[str, Callable[[], Runner]] = {
    "sequential": SequentialRunner,
    "parallel": lambda: ParallelRunner(max_workers=2, kill_grace=1.0),
}


@pytest.fixture(scope="session")
def open_runners() -> Iterator[dict[str, Runner]]:
    runners: dict[str, Runner] = {}
    yield runners
    for runner in runners.values():
        runner.close()


@pytest.fixture(params=list(RUNNERS))
def runner(request: pytest.FixtureRequest, open_runners: dict[str, Runner]) -> Runner:
    name: str = request.param
    if name not in open_runners:
        open_runners[name] = RUNNERS[name]()
        open_runners[name].open()
    return open_runners[name]


@pytest.fixture
def sqlite_context(make_context: Callable[..., Context]) -> Context:
    """A context over a temporary home: SQLite metadata store, local artifact folder."""
    return make_context()
