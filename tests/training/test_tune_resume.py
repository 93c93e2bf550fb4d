"""A real tuning process killed mid-study and run again: no trial lost, none run twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from kiln.config import Settings
from kiln.context import Context
from kiln.tracking import RunStatus
from kiln.tracking._runs import get_run
from kiln.training._studies import get_study

SCRIPT = """
import os, sys, time
from pathlib import Path

import kiln
from kiln.training import Float, current_trial, tune

LOG = Path(sys.argv[1])


def objective(params):
    number = current_trial().number
    with LOG.open("a") as log:
        log.write(f"start {number}\\n")
    time.sleep(0.4)
    with LOG.open("a") as log:
        log.write(f"end {number}\\n")
    return (params["x"] - 1.0) ** 2


if __name__ == "__main__":
    result = tune(objective, space={"x": Float(-3.0, 3.0)}, n_trials=8, seed=11, study="killed")
    print("best", result.best_value)
"""

N_TRIALS = 8


def _events(log: Path) -> list[tuple[str, int]]:
    if not log.exists():
        return []
    pairs = (line.split() for line in log.read_text().splitlines() if line.strip())
    return [(kind, int(number)) for kind, number in pairs]


@pytest.mark.slow
@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_killed_tuning_process_resumes_with_no_trial_lost_or_run_twice(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    if database == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'kiln.db'}"
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    log = tmp_path / "trials.log"
    env = {**os.environ, "KILN_HOME": str(tmp_path / "home"), "KILN_DATABASE_URL": url}

    process = subprocess.Popen([sys.executable, str(script), str(log)], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill it inside its fourth trial
        events = _events(log)
        if sum(kind == "end" for kind, _ in events) >= 3 and events[-1][0] == "start":
            break
        assert process.poll() is None, "the search ended before it could be killed"
        time.sleep(0.02)
    else:
        pytest.fail("the search did not reach its fourth trial")
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    killed = _events(log)[-1][1]

    finished = subprocess.run(
        [sys.executable, str(script), str(log)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert finished.returncode == 0, finished.stderr

    events = _events(log)
    ended = Counter(number for kind, number in events if kind == "end")
    assert killed not in ended  # its first attempt never ended
    assert all(count == 1 for count in ended.values())  # no trial ran to its end twice
    context = Context(Settings(home=tmp_path / "home", database_url=url))
    try:
        study = context.db.read(get_study, "default", "killed")
        counted = [t for t in study.trials if t.retried_by is None]
        assert len(counted) == N_TRIALS
        assert all(t.state == "COMPLETE" for t in counted)
        assert sorted(ended) == sorted(t.number for t in counted)
        dead = next(t for t in study.trials if t.number == killed)
        assert dead.state == "FAIL"
        assert "died" in (dead.failure or "")
        retry = next(t for t in study.trials if t.number == dead.retried_by)
        assert retry.retry_of == killed
        assert retry.params == dead.params
        assert len({t.number for t in study.trials}) == len(study.trials) == N_TRIALS + 1
        runs = {t.number: context.db.read(get_run, "default", t.run_id) for t in study.trials}
        assert runs[killed].status is RunStatus.KILLED
        assert all(runs[t.number].status is RunStatus.FINISHED for t in counted)
        parent = context.db.read(get_run, "default", study.parent_run_id)
        assert parent.status is RunStatus.FINISHED
        assert {run.parent_run_id for run in runs.values()} == {study.parent_run_id}
    finally:
        context.close()
