"""Runners for the conformance suite, kept open for the whole session (workers are costly).

The Ray runner's tests (marked ``ray``; ``-m ray`` selects them) share one
local Ray instance per session, ``ray.init(num_cpus=2, include_dashboard=False)``:
starting Ray costs seconds. Without Ray they skip with the reason, and
fail instead when ``CI=true``, like the PostgreSQL and Redis tests.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from kiln.context import Context
from kiln.pipelines import ParallelRunner, Runner, SequentialRunner
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]


def _ray_runner() -> Runner:
    from kiln.pipelines import RayRunner

    return RayRunner(kill_grace=1.0)


#: Every runner passes tests/pipelines/test_runners.py; a new runner joins by adding itself here.
RUNNERS: dict[str, Callable[[], Runner]] = {
    "sequential": SequentialRunner,
    "parallel": lambda: ParallelRunner(max_workers=2, kill_grace=1.0),
    "ray": _ray_runner,
}
#: Runners that need more than Kiln's core: their fixture first, and their marker.
NEEDS: dict[str, tuple[str, pytest.MarkDecorator]] = {"ray": ("ray_session", pytest.mark.ray)}


def require_ray() -> None:
    """Skip (or, under CI=true, fail) when Ray is not installed."""
    try:
        if importlib.util.find_spec("ray") is not None:
            return
    except ValueError:  # sys.modules["ray"] is None: imports of it are blocked
        pass
    message = "Ray is not installed (pip install 'kiln-ml[ray]')"
    if IN_CI:
        pytest.fail(f"{message}, and CI=true requires it")
    pytest.skip(f"{message}; install it to run the Ray runner's tests")


@pytest.fixture(scope="session")
def ray_session() -> Iterator[ModuleType]:
    """One local Ray instance with 2 CPUs for the whole session, quiet and without a dashboard.

    The workers it starts inherit this environment: ``PYTHONPATH`` lets them
    import the test steps (``tests.pipelines._steps``) whatever the current
    directory; a token made here keeps Ray's token authentication on without
    writing one to ``~/.ray``; usage statistics are off.
    """
    require_ray()
    with local_ray() as ray:
        yield ray


@pytest.fixture(scope="session")
def open_runners() -> Iterator[dict[str, Runner]]:
    runners: dict[str, Runner] = {}
    yield runners
    for runner in runners.values():
        runner.close()


def _runner_params() -> list[Any]:
    return [pytest.param(name, marks=NEEDS[name][1]) if name in NEEDS else name for name in RUNNERS]


def open_runner(
    name: str, request: pytest.FixtureRequest, open_runners: dict[str, Runner]
) -> Runner:
    """The session's open runner called ``name``, made (after what it needs) on first use."""
    if name in NEEDS:
        request.getfixturevalue(NEEDS[name][0])
    if name not in open_runners:
        open_runners[name] = RUNNERS[name]()
        open_runners[name].open()
    return open_runners[name]


@pytest.fixture(params=_runner_params())
def runner(request: pytest.FixtureRequest, open_runners: dict[str, Runner]) -> Runner:
    return open_runner(request.param, request, open_runners)


@pytest.fixture
def sqlite_context(make_context: Callable[..., Context]) -> Context:
    """A context over a temporary home: SQLite metadata store, local artifact folder."""
    return make_context()


@contextmanager
def local_ray() -> Iterator[ModuleType]:
    """A local Ray with 2 CPUs, quiet, no dashboard, token auth without a file in ``~/.ray``.

    Workers inherit ``PYTHONPATH`` (so they import the test modules) and the
    token; at the end Ray is shut down, the environment restored and the
    token Ray cached forgotten (a later ``ray.init`` brings its own).
    """
    saved = dict(os.environ)
    os.environ.update(
        {
            "RAY_DISABLE_USAGE_STATS": "1",
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(32),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])
            ),
        }
    )
    import ray  # after the variables: Ray reads its authentication mode on import

    try:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            _node_ip_address="127.0.0.1",
        )
        yield ray
    finally:
        ray.shutdown()
        os.environ.clear()
        os.environ.update(saved)
        from ray._raylet import AuthenticationTokenLoader

        AuthenticationTokenLoader.instance().reset_cache()
