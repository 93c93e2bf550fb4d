"""Resuming for real: a training process killed with SIGKILL carries on from its checkpoint.

``_resumable.py`` trains a small PyTorch model and checkpoints every epoch.
It is killed mid-epoch and started again with ``resume=True``; the result
must equal, tensor for tensor, an uninterrupted run of the same code.
(Resuming by ``run_id=`` and ``KILN_RUN_ID`` is in ``test_checkpoints.py``.)
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import kiln
from kiln.context import Context
from kiln.tracking import RunStatus, _fluent
from kiln.training import checkpoint
from tests.training import _resumable

SCRIPT = Path(__file__).with_name("_resumable.py")
EPOCHS = 6


class Script:
    """One process of ``_resumable.py``, read line by line.

    Threads read its output: stdout into a queue (``select`` on a text pipe
    misses lines already pulled into Python's buffer), stderr into a list (so
    a full pipe never blocks it).
    """

    def __init__(self, env: dict[str, str], how: str, stop_at: int, out: Path, *extra: str):
        self.process = subprocess.Popen(
            [sys.executable, str(SCRIPT), how, str(EPOCHS), str(stop_at), str(out), *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._output: queue.Queue[str | None] = queue.Queue()
        self._errors: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_errors, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout as stdout:
            for line in stdout:
                self._output.put(line.strip())
        self._output.put(None)

    def _read_errors(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr as stderr:
            self._errors.extend(stderr)

    def _wait(self, timeout: float) -> None:
        self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)

    @property
    def stderr(self) -> str:
        return "".join(self._errors)

    def wait_for(self, prefix: str, timeout: float = 60.0) -> str:
        """Read output until a line starts with ``prefix``; return it."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._output.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if line.startswith(prefix):
                return line
        self.process.kill()
        self._wait(30)
        pytest.fail(f"no {prefix!r} line; printed {self.lines}, stderr:\n{self.stderr}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self._wait(30)
        assert self.process.returncode == -signal.SIGKILL

    def finish(self) -> list[str]:
        self._wait(120)
        assert self.process.returncode == 0, self.stderr
        while (line := self._output.get(timeout=10)) is not None:
            self.lines.append(line)
        return self.lines

    def value(self, prefix: str) -> str:
        return next(line for line in self.lines if line.startswith(prefix)).split()[1]


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("KILN_")}
    return env | {"KILN_HOME": str(home), "PYTHONUNBUFFERED": "1", **extra}


def saved(lines: list[str]) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith("saved ")]


@pytest.fixture
def sdk() -> Iterator[Callable[[Path], Context]]:
    """Point ``kiln.*`` at a store; the same store the scripts use, or another."""
    yield lambda home: kiln.configure(home=home)
    _fluent._reset_for_tests()
    kiln.get_context().close()


@pytest.mark.slow
def test_a_killed_training_resumes_its_run_from_the_last_checkpoint(
    tmp_path: Path, sdk: Callable[[Path], Context]
) -> None:
    home = tmp_path / "kiln"
    first = Script(environment(home), "name", 2, tmp_path / "unused.pt")
    # Meanwhile, the same training uninterrupted, here in a store of its own.
    sdk(tmp_path / "reference")
    _resumable.main("name", EPOCHS, -1, str(tmp_path / "reference.pt"))
    reference_run = kiln.search_runs()[0].id
    expected_losses = [(m.step, m.value) for m in kiln.get_metric_history(reference_run, "loss")]

    first.wait_for("stopping 2")  # epochs 0 and 1 saved, 2 trained but not saved
    first.kill()
    second = Script(environment(home), "name", -1, tmp_path / "final.pt")  # resume=True
    second.finish()

    run_id = first.value("run")
    assert second.value("run") == run_id
    assert [first.value("start"), second.value("start")] == ["0", "2"]
    assert saved(first.lines) + saved(second.lines) == list(range(EPOCHS))  # none twice
    # Weights, Adam's moments and step counts equal the uninterrupted run's, bit for bit.
    expected = torch.load(tmp_path / "reference.pt", weights_only=True)
    assert_same_state(torch.load(tmp_path / "final.pt", weights_only=True), expected)

    sdk(home)
    run = kiln.get_run(run_id)
    assert run.status is RunStatus.FINISHED
    assert run.params == {"lr": "0.05"}
    losses = [(m.step, m.value) for m in kiln.get_metric_history(run_id, "loss")]
    assert sorted(losses) == expected_losses  # every epoch exactly once, the same loss
    assert [c.step for c in checkpoint.list(run_id)] == [4, 5]  # keep_last=2, keep_best=1
    assert_same_state(checkpoint.latest(run_id=run_id)["model"], expected["model"])


def assert_same_state(actual: Any, expected: Any, where: str = "state") -> None:
    """Equal containers of equal tensors (bit for bit) and plain values."""
    assert type(actual) is type(expected), where
    if isinstance(actual, dict):
        assert actual.keys() == expected.keys(), where
        for key in actual:
            assert_same_state(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(actual, list | tuple):
        assert len(actual) == len(expected), where
        for index, (a, b) in enumerate(zip(actual, expected, strict=True)):
            assert_same_state(a, b, f"{where}[{index}]")
    elif isinstance(actual, torch.Tensor):
        assert torch.equal(actual, expected), where
    else:
        assert actual == expected, where
