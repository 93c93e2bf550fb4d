"""``kiln jobs`` through the console script: submit and follow (exiting with the job's status),
list as a table and JSON, show, logs, cancel a running job (its tree gone), bad input as a
clear error with exit code 6."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli.test_features_cli import KILN, kiln
from tests.training._jobs import PIDS, TRAIN, TREE, assert_gone, write

pytestmark = pytest.mark.timeout(180)


def test_submit_follow_list_show_and_logs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(tmp_path, "train.py", TRAIN)
    write(tmp_path, "fails.py", "print('going down')\nraise SystemExit(7)\n")

    followed = kiln(
        home,
        "jobs",
        "submit",
        "train.py",
        "--args",
        "--lr 0.1 'two words'",
        "--follow",
        cwd=tmp_path,
    )
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout == (
        "epoch 1\nwarning on stderr\nepoch 2\nargs ['--lr', '0.1', 'two words']\n"
    )
    assert "job 1 (train) succeeded" in followed.stderr

    failed = kiln(home, "jobs", "submit", "fails.py", "--name", "doomed", "--wait", cwd=tmp_path)
    assert failed.returncode == 7, failed.stderr  # the job's own exit code
    assert "job 2 (doomed) failed, exit code 7" in failed.stderr
    assert "going down" not in failed.stdout  # --wait does not stream

    listed = kiln(home, "jobs", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = [line for line in listed.stdout.splitlines() if "│" in line]
    assert "doomed" in lines[0]
    assert "failed" in lines[0]
    assert "train" in lines[1]
    assert "succeeded" in lines[1]
    as_json = json.loads(kiln(home, "jobs", "list", "--json", cwd=tmp_path).stdout)
    assert [(job["id"], job["status"]) for job in as_json] == [(2, "failed"), (1, "succeeded")]
    assert as_json[1]["args"] == ["--lr", "0.1", "two words"]

    shown = kiln(home, "jobs", "show", "1", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "status: succeeded" in shown.stdout
    assert "entry: train.py --lr 0.1 'two words'" in shown.stdout
    assert "CPU seconds: " in shown.stdout
    assert "peak memory: " in shown.stdout

    logs = kiln(home, "jobs", "logs", "2", cwd=tmp_path)
    assert (logs.returncode, logs.stdout) == (0, "going down\n")
    assert kiln(home, "jobs", "logs", "2", "--follow", cwd=tmp_path).returncode == 7


def test_cancel_a_running_job_from_the_command_line(tmp_path: Path) -> None:
    import os

    home = tmp_path / "home"
    write(tmp_path, "tree.py", TREE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env.update(KILN_HOME=str(home), NO_COLOR="1")
    assert KILN is not None
    follower = subprocess.Popen(
        [KILN, "jobs", "submit", "tree.py", "--follow"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        line = follower.stdout.readline()  # streamed as the job prints it
        found = PIDS.search(line)
        assert found, line
        pids = [int(pid) for pid in found.group(1).split()]
        cancelled = kiln(home, "jobs", "cancel", "1", cwd=tmp_path)
        assert cancelled.returncode == 0, cancelled.stderr
        assert "job 1 (tree) cancelled" in cancelled.stdout
        assert follower.wait(timeout=30) == 130
    finally:
        if follower.poll() is None:
            follower.kill()
        follower.communicate()
    assert_gone(pids)
    again = kiln(home, "jobs", "cancel", "1", cwd=tmp_path)
    assert again.returncode == 5
    assert "already ended (cancelled)" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.py"], "script missing.py does not exist"),
        (["train.py", "--resources", "cpu=2,disk=1"], "unknown resources 'disk'"),
        (["train.py", "--timeout", "-5"], "timeout '-5' is not a positive duration"),
        (["train.py", "--runner", "slurm"], "runner 'slurm' is not one of local, ray"),
        (["train.py", "--args", "'unclosed"], "cannot be split"),
        (["train.py", "--isolated"], "an isolated job needs its pins"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, args: list[str], message: str) -> None:
    write(tmp_path, "train.py", TRAIN)
    started = time.monotonic()
    done = kiln(tmp_path / "home", "jobs", "submit", *args, cwd=tmp_path)
    assert done.returncode == 6, done.stderr
    assert message in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 30
