"""Real pipeline runs for the API and UI tests: a gate that pauses, and a step that trains.

The pipelines live in a module written to a folder of the test's own and are
run with ``kiln pipelines run`` from that folder, as a user would, so the
run records a target and a working directory the server can resume from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kiln.config import Settings
from kiln.context import Context, using_context

MODULE = "kiln_test_gated"

SOURCE = '''
"""Pipelines the server tests run: a quality gate, and a step that trains a model."""

import kiln
import kiln.data
from kiln.pipelines import pipeline, step


@step
def pick(ref: str) -> str:
    print(f"picked {ref}")
    return ref


@step
def rows(ref: str) -> int:
    return len(kiln.data.load(ref))


@step
def summary(n: int) -> str:
    return f"{n} rows"


@pipeline
def gated(ref: str = "events@latest"):
    checked = kiln.data.check(pick(ref), reference="ref@latest")
    return summary(rows(checked))


@step
def fit(ref: str) -> str:
    from sklearn.linear_model import LinearRegression

    frame = kiln.data.load(ref)
    with kiln.start_run(experiment="lineage-tests") as run:
        model = LinearRegression().fit(frame[["amount"]], frame["amount"] * 3)
        logged = kiln.log_model(model, "model")
    kiln.register_model(logged, "amount-scorer")
    return run.id


@pipeline
def training(ref: str = "ref@latest"):
    return fit(ref)
'''

#: The frame the gate compares with (``ref@1``), and data far outside it (``events``).
REFERENCE = pd.DataFrame({"amount": np.linspace(1.0, 100.0, 200), "kind": ["a", "b"] * 100})
DRIFTED = pd.DataFrame({"amount": np.linspace(500.0, 900.0, 150), "kind": ["z"] * 150})


def write_module(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{MODULE}.py"
    path.write_text(SOURCE, encoding="utf-8")
    return folder


def environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env.update(
        KILN_HOME=str(settings.home),
        KILN_DATABASE_URL=settings.resolved_database_url,
        KILN_ARTIFACT_ROOT=settings.resolved_artifact_root,
        KILN_PROJECT=settings.project,
    )
    return env


def register_data(settings: Settings) -> None:
    """``ref@1`` (the reference) and ``events@1`` (drifted), in the settings' project."""
    context = Context(settings)
    try:
        with using_context(context):
            import kiln.data

            kiln.data.register_dataset(REFERENCE, "ref", description="what good data looks like")
            kiln.data.register_dataset(DRIFTED, "events", description="today's events")
    finally:
        context.close()


def run_cli(folder: Path, settings: Settings, pipeline: str) -> dict[str, Any]:
    """``kiln pipelines run MODULE:pipeline --json`` from ``folder``; the run's record."""
    done = subprocess.run(
        [sys.executable, "-m", "kiln", "pipelines", "run", f"{MODULE}:{pipeline}", "--json"],
        cwd=folder,
        env=environment(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    record: dict[str, Any] = json.loads(done.stdout)
    return record


def wait_until(check: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not so after {timeout} s")
        time.sleep(0.2)
