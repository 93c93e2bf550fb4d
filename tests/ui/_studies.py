"""The study pages' seed: three real ``kiln.training.tune`` studies, made in a second or two.

In project ``tuning-shop`` (so the demo's pages stay as the other tests
expect), through the public ``tune``:

- ``quadratic-search``: one direction, 15 trials over a float, an int and a
  category; each trial reports 5 intermediate values, so the median pruner
  stops some; trial 4 raises, so it fails.
- ``error-vs-size``: two directions named ``error`` and ``size``, 10 trials:
  a Pareto front.
- ``never-finished``: every trial raises: no best trial, no plots.

A viewer and an editor of the project get tokens. ``make_studies`` alone (no users) is
also the REST API's and the CLI's seed, over a store of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln import auth
from kiln.context import Context, using_context
from kiln.tracking import _fluent
from kiln.training import Categorical, Float, Int, current_trial, report, tune
from tests.ui._seed import settings

PROJECT = "tuning-shop"
SEARCH = "quadratic-search"
PARETO = "error-vs-size"
BROKEN = "never-finished"
SEARCH_TRIALS = 15
PARETO_TRIALS = 10
FAILING_TRIAL = 4
STEPS = 5


@dataclass(frozen=True)
class StudySeed:
    viewer_token: str
    editor_token: str


_SEEDED: dict[Path, StudySeed] = {}


def quadratic(params: dict[str, Any]) -> float:
    if current_trial().number == FAILING_TRIAL:
        raise ValueError("this configuration cannot train")
    value = (params["x"] - 2.0) ** 2 + params["y"] + (0.5 if params["kind"] == "wide" else 0.0)
    for step in range(STEPS):
        report(value + (STEPS - 1 - step), step)
    return value


def error_and_size(params: dict[str, Any]) -> list[float]:
    return [(params["x"] - 1.0) ** 2, abs(params["x"]) + params["width"]]


def broken(params: dict[str, Any]) -> float:
    raise RuntimeError("out of memory")


def make_studies(context: Context) -> None:
    """The three studies, in ``context``'s project."""
    context.db.run(auth.ensure_project, context.settings.project)
    try:
        with using_context(context):
            tune(
                quadratic,
                space={
                    "x": Float(-5.0, 5.0),
                    "y": Int(0, 3),
                    "kind": Categorical(["narrow", "wide"]),
                },
                n_trials=SEARCH_TRIALS,
                study=SEARCH,
                seed=1,
                progress=False,
            )
            tune(
                error_and_size,
                space={"x": Float(-3.0, 3.0), "width": Int(1, 4)},
                directions=["minimize", "minimize"],
                metric_names=["error", "size"],
                pruner=None,
                n_trials=PARETO_TRIALS,
                study=PARETO,
                seed=2,
                progress=False,
            )
            tune(broken, space={"x": Float(0.0, 1.0)}, n_trials=2, study=BROKEN, progress=False)
    finally:
        _fluent._reset_for_tests()


def seed(home: Path) -> StudySeed:
    """The studies, a viewer and an editor of project ``tuning-shop`` in the store at ``home``."""
    if home not in _SEEDED:
        context = Context(settings(home).model_copy(update={"project": PROJECT}))
        try:
            make_studies(context)
            tokens = {}
            for user, role in (("study-editor", "editor"), ("study-viewer", "viewer")):
                context.db.run(auth.create_user, user)
                context.db.run(auth.set_member, PROJECT, user, role)
                tokens[role] = context.db.run(auth.create_token, user, PROJECT).secret
        finally:
            context.close()
        _SEEDED[home] = StudySeed(tokens["viewer"], tokens["editor"])
    return _SEEDED[home]
