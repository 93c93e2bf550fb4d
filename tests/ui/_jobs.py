"""The job pages' seed: two real jobs that ran (one succeeded, one failed) in project ``job-shop``.

A project of its own, so the demo's pages stay as the other tests expect (a job's run would
join the demo's runs). The jobs run through the real supervisor and executor against the demo
store, so their output, usage and runs are what a user would see. ``start_tree`` submits a job
that keeps a process tree running, for the cancel test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from kiln import auth
from kiln.context import Context
from kiln.training._job_control import submit_job, wait_job
from kiln.training._jobs import Job
from tests.training._jobs import TREE, write
from tests.ui._seed import settings

PROJECT = "job-shop"
TRAIN = """\
import sys
import kiln

for epoch in range(3):
    print(f"epoch {epoch}: loss {1 / (epoch + 1):.3f}", flush=True)
print("a warning on stderr", file=sys.stderr, flush=True)
with kiln.start_run():
    kiln.log_metric("loss", 0.333)
"""
FAILS = "print('loading data')\nraise SystemExit(4)\n"


@dataclass(frozen=True)
class JobSeed:
    succeeded: Job
    failed: Job
    folder: Path


_SEEDED: dict[Path, JobSeed] = {}


def context_for(home: Path) -> Context:
    return Context(settings(home).model_copy(update={"project": PROJECT}))


def seed(home: Path, tmp_path_factory: pytest.TempPathFactory) -> JobSeed:
    """The two jobs, run once per store (about three seconds)."""
    if home not in _SEEDED:
        folder = tmp_path_factory.mktemp("ui-jobs")
        write(folder, "train.py", TRAIN)
        write(folder, "prepare.py", FAILS)
        write(folder, "tree.py", TREE)
        context = context_for(home)
        try:
            context.db.run(auth.ensure_project, PROJECT)
            trained = submit_job(
                "train.py", ["--epochs", "3"], workdir=folder, resources="cpu=2,memory=1GB",
                context=context,
            )  # fmt: skip
            failed = submit_job("prepare.py", workdir=folder, timeout=600, context=context)
            _SEEDED[home] = JobSeed(
                succeeded=wait_job(trained.id, timeout=60, context=context),
                failed=wait_job(failed.id, timeout=60, context=context),
                folder=folder,
            )
        finally:
            context.close()
    return _SEEDED[home]


def start_tree(home: Path, seeded: JobSeed) -> Job:
    """A job that runs a process tree until it is cancelled."""
    context = context_for(home)
    try:
        return submit_job("tree.py", workdir=seeded.folder, context=context)
    finally:
        context.close()


def pages(seeded: JobSeed) -> dict[str, str]:
    """The job pages for the accessibility sweep."""
    return {
        "jobs": f"/jobs?project={PROJECT}",
        "job": f"/jobs/{seeded.succeeded.id}?project={PROJECT}",
        "failed job": f"/jobs/{seeded.failed.id}?project={PROJECT}",
    }
