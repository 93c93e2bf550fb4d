"""Pipeline runs and datasets of the UI tests' own, in the shared demo store (project ``demo``).

Made once per session however many modules ask (``seed`` remembers), through
the public paths: ``kiln.data.register_dataset`` and ``kiln pipelines run``.

- ``shown``: a run of ``gated`` paused at its gate (``events`` is far from ``ref``);
  the tests only look at it.
- ``to_resume``: another such run; a test resumes it, and since ``ref@2`` (which
  ``events`` matches) was registered after it paused, the gate passes on resume.
- ``training``: ``fit`` trained ``amount-scorer`` v1 on ``ref@1``; registering ``ref@2``
  flagged that version stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from kiln.config import Settings
from kiln.context import Context, using_context
from tests.server import _pipelines


@dataclass(frozen=True)
class Seeded:
    folder: Path
    shown: str
    to_resume: str
    training: str


_SEEDED: dict[Path, Seeded] = {}


def settings(home: Path) -> Settings:
    """The demo store's settings, as the UI's server has them."""
    # Explicit Nones: the server (see conftest._environment) reads no KILN_* variable either.
    return Settings(home=home, project="demo", database_url=None, artifact_root=None)


def seed(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    if home in _SEEDED:
        return _SEEDED[home]
    config = settings(home)
    _pipelines.register_data(config)
    folder = _pipelines.write_module(tmp_path_factory.mktemp("ui-pipelines"))
    shown = _pipelines.run_cli(folder, config, "gated")["id"]
    to_resume = _pipelines.run_cli(folder, config, "gated")["id"]
    training = _pipelines.run_cli(folder, config, "training")["id"]
    context = Context(config)
    try:
        with using_context(context):
            import kiln.data

            kiln.data.register_dataset(_pipelines.DRIFTED, "ref", description="the new normal")
    finally:
        context.close()
    _SEEDED[home] = Seeded(folder, shown, to_resume, training)
    return _SEEDED[home]
