"""``kiln.checkpoint`` on real stores: save, replace, retention, load, formats, safety, gc.

Tests that depend on the metadata store run on SQLite and PostgreSQL; the
checks of arguments run on SQLite only. Killing a real training process and
resuming it is in ``test_checkpoint_resume.py``.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from sqlalchemy import func, select

import kiln
from kiln.artifacts import ArtifactStore, LocalArtifactBackend
from kiln.context import Context
from kiln.db.tables import CheckpointRow, MetricRow
from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.gc import collect
from kiln.tracking import ActiveRun, RunStatus, _fluent, _runs
from kiln.training import _checkpoints, checkpoint
from tests.test_public_api import ruff_sort_key
from tests.training.test_checkpoint_resume import assert_same_state


@dataclass
class Opaque:
    """Not a tensor, a table or a JSON value: only pickle can store it."""

    weights: list[float]


@pytest.fixture
def sdk(tmp_path: Path) -> Iterator[Callable[..., Context]]:
    """``kiln.configure(...)`` for the test, undone afterwards."""

    def configure(**settings: Any) -> Context:
        settings.setdefault("home", tmp_path / "store")
        return kiln.configure(**settings)

    yield configure
    _fluent._reset_for_tests()
    kiln.configure(home=tmp_path / "after")
    kiln.get_context().close()


@pytest.fixture
def store(sdk: Callable[..., Context], database_url: str) -> Context:
    """The SDK on SQLite or PostgreSQL."""
    return sdk(database_url=database_url)


@pytest.fixture
def sqlite_store(sdk: Callable[..., Context], sqlite_url: str) -> Context:
    return sdk(database_url=sqlite_url)


@pytest.fixture
def run(store: Context) -> Iterator[ActiveRun]:
    with kiln.start_run(experiment="checkpoints", capture_environment=False) as active:
        yield active


@pytest.fixture
def sqlite_run(sqlite_store: Context) -> Iterator[ActiveRun]:
    with kiln.start_run(experiment="checkpoints", capture_environment=False) as active:
        yield active


def state(epoch: int) -> dict[str, Any]:
    return {"model": {"weight": torch.full((2, 3), float(epoch))}, "epoch": epoch}


def steps() -> list[int]:
    return [saved.step for saved in checkpoint.list()]


# Saving and reading back ----------------------------------------------------------------


def test_latest_is_the_default_until_there_is_a_checkpoint_then_the_newest(run: Any) -> None:
    assert checkpoint.latest() is None
    assert checkpoint.latest(default={"epoch": -1}) == {"epoch": -1}

    for epoch in (0, 2, 1):
        checkpoint.save(state(epoch), epoch)

    assert checkpoint.latest()["epoch"] == 2  # by step, not by when it was saved
    assert checkpoint.load()["epoch"] == 2
    restored = checkpoint.load(1)
    assert restored["epoch"] == 1
    assert torch.equal(restored["model"]["weight"], torch.full((2, 3), 1.0))


def test_a_checkpoint_records_its_run_step_format_size_and_score(run: Any) -> None:
    saved = checkpoint.save(state(3), 3, metric=0.25, mode="max")

    assert (saved.run_id, saved.step, saved.format) == (run.id, 3, "torch")
    assert (saved.metric, saved.mode) == (0.25, "max")
    assert saved.size == kiln.get_context().artifacts.size(saved.digest)
    assert saved.created_at.tzinfo is not None
    assert checkpoint.list() == [saved]
    assert checkpoint.save({"epoch": 4}, 4).mode is None  # no metric, no mode


def test_saving_a_step_again_replaces_it(run: Any) -> None:
    first = checkpoint.save(state(0), 0)
    second = checkpoint.save(state(7), 0, metric=1.5)

    assert second.digest != first.digest
    assert checkpoint.list() == [second]
    assert checkpoint.load(0)["epoch"] == 7


def test_delete_removes_one_checkpoint(sqlite_run: Any) -> None:
    for epoch in range(3):
        checkpoint.save(state(epoch), epoch)

    removed = checkpoint.delete(2)

    assert removed.step == 2
    assert steps() == [0, 1]
    assert checkpoint.latest()["epoch"] == 1
    with pytest.raises(NotFound, match="no checkpoint at step 2; it has checkpoints at steps 0, 1"):
        checkpoint.delete(2)


def test_a_missing_checkpoint_is_not_found_with_what_there_is(sqlite_run: Any) -> None:
    with pytest.raises(NotFound, match=r"no checkpoints yet; kiln.checkpoint.latest\(\)"):
        checkpoint.load()
    checkpoint.save(state(0), 0)
    checkpoint.save(state(1), 1)

    with pytest.raises(NotFound, match="no checkpoint at step 5; it has checkpoints at steps 0, 1"):
        checkpoint.load(5)
    with pytest.raises(NotFound, match="no checkpoint saved with a metric"):
        checkpoint.load(best=True)


# Retention ---------------------------------------------------------------------------------


def test_keep_last_keeps_the_newest_steps_and_the_one_just_saved(run: Any) -> None:
    for epoch in range(5):
        checkpoint.save(state(epoch), epoch, keep_last=2)
    assert steps() == [3, 4]

    checkpoint.save(state(1), 1, keep_last=2)  # an older step: kept, being the one saved

    assert steps() == [1, 3, 4]
    checkpoint.save(state(5), 5, keep_last=2)
    assert steps() == [4, 5]


@pytest.mark.parametrize(("mode", "kept"), [("min", [1, 3, 4]), ("max", [0, 2, 4])])
def test_keep_best_keeps_the_best_by_metric_and_the_newest(
    run: Any, mode: str, kept: list[int]
) -> None:
    for epoch, score in enumerate([5.0, 1.0, 4.0, 2.0, 3.0]):
        checkpoint.save(state(epoch), epoch, metric=score, mode=mode, keep_best=2)  # type: ignore[arg-type]

    assert steps() == kept
    best = 1 if mode == "min" else 0
    assert checkpoint.load(best=True)["epoch"] == best


def test_keep_last_and_keep_best_keep_their_union(sqlite_run: Any) -> None:
    for epoch, loss in enumerate([1.0, 5.0, 4.0, 3.0, 6.0]):
        checkpoint.save(state(epoch), epoch, metric=loss, keep_last=2, keep_best=1)

    assert steps() == [0, 3, 4]


def test_a_tie_on_the_metric_goes_to_the_newer_step(run: Any) -> None:
    for epoch, loss in enumerate([2.0, 1.0, 1.0, 3.0]):
        checkpoint.save(state(epoch), epoch, metric=loss, keep_last=1, keep_best=1)

    assert steps() == [2, 3]
    assert checkpoint.load(best=True)["epoch"] == 2


def test_without_retention_every_checkpoint_stays(sqlite_run: Any) -> None:
    for epoch in range(4):
        checkpoint.save(state(epoch), epoch, metric=float(epoch))

    assert steps() == [0, 1, 2, 3]


def test_best_is_ranked_by_the_mode_checkpoints_were_saved_with(run: Any) -> None:
    checkpoint.save(state(0), 0, metric=0.9, mode="max")
    checkpoint.save(state(1), 1, metric=0.7, mode="max")
    checkpoint.save(state(2), 2)  # no metric: never the best

    assert checkpoint.load(best=True)["epoch"] == 0


# Runs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: checkpoint.save(state(0), 0),
        lambda: checkpoint.latest(),
        lambda: checkpoint.load(),
        lambda: checkpoint.list(),
        lambda: checkpoint.delete(0),
    ],
    ids=["save", "latest", "load", "list", "delete"],
)
def test_without_an_active_run_or_run_id_it_is_a_conflict(
    sqlite_store: Context, call: Callable[[], object]
) -> None:
    with pytest.raises(Conflict, match=r"no active run .*kiln.start_run\(run_name=.*resume=True"):
        call()


def test_run_id_names_a_run_that_is_not_active(sqlite_store: Context) -> None:
    with kiln.start_run(capture_environment=False) as done:
        checkpoint.save(state(0), 0)

    assert checkpoint.latest(run_id=done.id)["epoch"] == 0
    assert [saved.step for saved in checkpoint.list(done.id)] == [0]
    with pytest.raises(Conflict, match="FINISHED: it takes no new checkpoints; resume it"):
        checkpoint.save(state(1), 1, run_id=done.id)
    with pytest.raises(NotFound, match="does not exist in project 'default'") as missing:
        checkpoint.latest(run_id="0" * 32)
    assert missing.value.field == "run_id"


@pytest.mark.parametrize("how", ["run_id", "KILN_RUN_ID"])
def test_a_failed_run_resumes_from_its_checkpoint(
    sqlite_store: Context, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    saved: dict[str, Any] = {}
    crashed = kiln.start_run(run_name="crashing", capture_environment=False)
    with pytest.raises(RuntimeError, match="out of memory"), crashed:  # noqa: PT012
        for epoch in range(2):
            optimizer.zero_grad()
            model(torch.ones(4, 3)).sum().backward()
            optimizer.step()
            saved = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
            checkpoint.save({**saved, "epoch": epoch}, epoch)
            saved = copy.deepcopy(saved)
        raise RuntimeError("out of memory")
    assert kiln.get_run(crashed.id).status is RunStatus.FAILED

    if how == "KILN_RUN_ID":
        monkeypatch.setenv("KILN_RUN_ID", crashed.id)
        resumed = kiln.start_run()
    else:
        resumed = kiln.start_run(run_id=crashed.id)
    with resumed:
        fresh = torch.nn.Linear(3, 1)
        fresh_optimizer = torch.optim.SGD(fresh.parameters(), lr=0.1, momentum=0.9)
        restored = checkpoint.latest()
        fresh.load_state_dict(restored["model"])
        fresh_optimizer.load_state_dict(restored["optimizer"])

        assert resumed.id == crashed.id
        assert restored["epoch"] == 1
        assert_same_state(fresh.state_dict(), saved["model"])
        assert_same_state(fresh_optimizer.state_dict(), saved["optimizer"])
        checkpoint.save({"epoch": 2}, 2)  # the resumed run takes checkpoints again
    assert kiln.get_run(crashed.id).status is RunStatus.FINISHED


def test_resume_by_name_takes_the_unfinished_run_and_a_new_one_after_success(
    sqlite_store: Context,
) -> None:
    crashed = kiln.start_run(run_name="nightly", capture_environment=False)
    with pytest.raises(KeyError), crashed:  # noqa: PT012
        checkpoint.save({"epoch": 0}, 0)
        raise KeyError("crash")

    with kiln.start_run(run_name="nightly", resume=True) as again:
        assert checkpoint.latest() == {"epoch": 0}
    with kiln.start_run(run_name="nightly", resume=True) as fresh:
        assert checkpoint.latest() is None

    assert fresh.id != again.id


GUIDE = Path(__file__).parents[2] / "docs" / "training-checkpoints.md"


def test_the_guides_example_carries_on_after_a_crash(
    sqlite_store: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = GUIDE.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    if "checkpoint" not in kiln.__dict__:  # until kiln exports it
        monkeypatch.setattr(kiln, "checkpoint", checkpoint, raising=False)
    calls: list[str] = []

    def train_one_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> float:
        if len(calls) == 3:  # the fourth epoch of the first start
            calls.append("crash")
            raise RuntimeError("the machine went away")
        calls.append("epoch")
        optimizer.zero_grad()
        loss = model(torch.ones(8, 4)).pow(2).mean()
        loss.backward()
        optimizer.step()
        return loss.item()

    with pytest.raises(RuntimeError, match="went away"):
        exec(example, {"train_one_epoch": train_one_epoch})
    exec(example, {"train_one_epoch": train_one_epoch})

    (run,) = kiln.search_runs()
    assert run.name == "job"
    assert run.status is RunStatus.FINISHED
    losses = kiln.get_metric_history(run.id, "loss")
    assert [point.step for point in losses] == list(range(6))
    assert calls == ["epoch"] * 3 + ["crash"] + ["epoch"] * 3  # 0-2, then 3-5 after the restart
    best = min(losses, key=lambda point: (point.value, -point.step)).step
    assert [saved.step for saved in checkpoint.list(run.id)] == sorted({4, 5, best})


def test_the_metrics_logged_before_a_checkpoint_are_stored_with_it(sqlite_run: Any) -> None:
    kiln.log_metric("loss", 0.5, step=0)
    checkpoint.save(state(0), 0)

    def stored(session: Any) -> list[Any]:  # straight from the table: no flush on the way
        return list(
            session.scalars(select(MetricRow.value).where(MetricRow.run_id == sqlite_run.id))
        )

    assert kiln.get_context().db.read(stored) == [0.5]


# Formats -----------------------------------------------------------------------------------


def test_torch_keeps_tensors_parameters_and_plain_values_exactly(sqlite_run: Any) -> None:
    value = {
        "weight": torch.nn.Parameter(torch.randn(3)),
        "half": torch.ones(2, dtype=torch.bfloat16),
        "shape": torch.Size([3, 4]),
        "dtype": torch.float16,
        "device": torch.device("cpu"),
        "pair": (1, 2.5),
        "names": {"a", "b"},
        "raw": b"\x00\x01",
        "by_index": {0: torch.zeros(1), 1: None},
        "nested": [{"step": torch.tensor(3)}, "text", True],
    }
    saved = checkpoint.save(value, 0)
    restored = checkpoint.load(0)

    assert saved.format == "torch"
    assert_same_state(restored, value)
    assert type(restored["weight"]) is torch.nn.Parameter


@pytest.mark.parametrize(
    ("value", "format"),
    [
        ({"epoch": 3, "lr": 0.01, "history": [1.0, 0.5]}, "json"),
        (np.arange(6, dtype=np.float32).reshape(2, 3), "numpy"),
        (pd.DataFrame({"loss": [0.5, 0.25], "epoch": [0, 1]}), "pandas"),
    ],
    ids=["json", "numpy", "pandas"],
)
def test_the_pipelines_formats_store_what_they_handle(
    sqlite_run: Any, value: object, format: str
) -> None:
    saved = checkpoint.save(value, 0)
    restored = checkpoint.load(0)

    assert saved.format == format
    if isinstance(value, pd.DataFrame):
        pd.testing.assert_frame_equal(restored, value)
    elif isinstance(value, np.ndarray):
        np.testing.assert_array_equal(restored, value)
    else:
        assert restored == value


def test_format_torch_keeps_plain_tuples_that_json_would_make_lists(sqlite_run: Any) -> None:
    checkpoint.save({"pair": (1, 2)}, 0)
    checkpoint.save({"pair": (1, 2)}, 1, format="torch")

    assert checkpoint.load(0) == {"pair": [1, 2]}
    assert checkpoint.load(1) == {"pair": (1, 2)}


def test_tensors_beside_what_torch_cannot_load_safely_are_refused(sqlite_run: Any) -> None:
    value = {"model": {"w": torch.ones(2)}, "rng": ("MT19937", np.arange(3))}

    with pytest.raises(InvalidInput, match=r"the object\['rng'\]\[1\] is a numpy.ndarray") as bad:
        checkpoint.save(value, 0)

    assert bad.value.field == "obj"
    assert "allow_pickle=True" in bad.value.message
    assert checkpoint.list() == []


def test_pickle_only_with_allow_pickle_to_save_and_again_to_load(sqlite_run: Any) -> None:
    with pytest.raises(InvalidInput, match="cannot safely store an object of type") as refused:
        checkpoint.save(Opaque([1.0]), 0)
    assert refused.value.field == "obj"

    saved = checkpoint.save(Opaque([1.0, 2.0]), 0, allow_pickle=True)

    assert saved.format == "pickle"
    for read in (checkpoint.latest, checkpoint.load):
        with pytest.raises(InvalidInput, match="unpickling runs code") as unsafe:
            read()
        assert unsafe.value.field == "allow_pickle"
    assert checkpoint.latest(allow_pickle=True) == Opaque([1.0, 2.0])
    assert checkpoint.load(0, allow_pickle=True) == Opaque([1.0, 2.0])


def test_an_object_pickle_cannot_store_is_refused_clearly(sqlite_run: Any) -> None:
    with pytest.raises(InvalidInput, match="cannot pickle the object of type function"):
        checkpoint.save(lambda: None, 0, allow_pickle=True)


def test_a_torch_blob_that_needs_more_than_tensors_is_not_unpickled(sqlite_run: Any) -> None:
    context = kiln.get_context()
    scratch = io.BytesIO()
    torch.save({"w": torch.ones(1), "opaque": Opaque([1.0])}, scratch)  # not weights-only
    blob = context.artifacts.put_bytes(scratch.getvalue())
    retention = _checkpoints.check_save(0)
    context.db.run(
        _checkpoints.record_checkpoint,
        "default",
        sqlite_run.id,
        retention,
        digest=blob.digest,
        size=blob.size,
        format="torch",
    )

    with pytest.raises(Conflict, match="weights_only=True refused it"):
        checkpoint.latest()


# Bad input -------------------------------------------------------------------------------------

BAD_SAVES = [
    ({"step": -1}, "step"),
    ({"step": 1.5}, "step"),
    ({"step": True}, "step"),
    ({"step": "3"}, "step"),
    ({"step": 1 << 63}, "step"),
    ({"metric": math.nan}, "metric"),
    ({"metric": math.inf}, "metric"),
    ({"metric": "low"}, "metric"),
    ({"mode": "median", "metric": 1.0}, "mode"),
    ({"keep_last": 0}, "keep_last"),
    ({"keep_last": 2.0}, "keep_last"),
    ({"keep_best": 0, "metric": 1.0}, "keep_best"),
    ({"keep_best": 1}, "keep_best"),
    ({"format": "parquet"}, "format"),
    ({"format": "pickle"}, "allow_pickle"),
    ({"format": "numpy"}, "format"),
    ({"obj": object()}, "obj"),
]


@pytest.mark.parametrize(("arguments", "field"), BAD_SAVES, ids=[f for _, f in BAD_SAVES])
def test_a_bad_save_names_the_field_and_writes_nothing(
    sqlite_run: Any, arguments: dict[str, Any], field: str
) -> None:
    store = kiln.get_context().artifacts
    before = set(store.digests())
    call = {"obj": state(0), "step": 0} | arguments

    with pytest.raises(InvalidInput) as bad:
        checkpoint.save(call.pop("obj"), call.pop("step"), **call)

    assert bad.value.field == field
    assert checkpoint.list() == []
    assert set(store.digests()) == before


def test_bad_reads_name_the_field(sqlite_run: Any) -> None:
    for call, field in [
        (lambda: checkpoint.load(1, best=True), "best"),
        (lambda: checkpoint.load(-1), "step"),
        (lambda: checkpoint.delete(-1), "step"),
        (lambda: checkpoint.list(""), "run_id"),
    ]:
        with pytest.raises(InvalidInput) as bad:
            call()
        assert bad.value.field == field


def test_a_server_url_is_refused_with_what_to_do(sdk: Callable[..., Context]) -> None:
    sdk(server_url="http://127.0.0.1:9")

    with pytest.raises(InvalidInput, match="needs direct access to the metadata") as remote:
        checkpoint.list("0" * 32)

    assert remote.value.field == "server_url"
    assert "KILN_DATABASE_URL" in remote.value.message


# Garbage collection ------------------------------------------------------------------------


def age(store: ArtifactStore, seconds: float = 3 * 24 * 3600.0) -> None:
    """Make every blob look written ``seconds`` ago."""
    backend = store.backend
    assert isinstance(backend, LocalArtifactBackend)
    when = time.time() - seconds
    for digest in store.digests():
        path = backend.root / "blobs" / "sha256" / digest[:2] / digest[2:4] / digest
        os.utime(path, (when, when))


def test_gc_keeps_live_checkpoints_and_collects_pruned_replaced_and_deleted_ones(
    store: Context, run: Any
) -> None:
    pruned = [checkpoint.save(state(epoch), epoch, keep_last=1).digest for epoch in range(3)]
    replaced = checkpoint.save(state(10), 3).digest
    live = checkpoint.save(state(11), 3)
    network = torch.nn.Linear(2, 1)
    model = checkpoint.save(network, 4)  # a Kiln model folder: an index blob and its files
    index = json.loads(store.artifacts.read_bytes(model.digest))
    model_blobs = {model.digest} | {file["digest"] for file in index["files"]}
    assert model.format == "kiln_model"
    assert model.size == sum(store.artifacts.size(blob) for blob in model_blobs)
    age(store.artifacts)

    report = collect(store, dry_run=False, grace=timedelta(hours=1))

    assert set(pruned[:2]) | {replaced} <= set(report.deleted)  # keep_last=1 pruned 0 and 1
    assert not ({pruned[2], live.digest} | model_blobs) & set(report.deleted)
    assert report.references_by_source["checkpoints.digest"] == 2 + len(model_blobs)
    assert checkpoint.load(3)["epoch"] == 11
    assert_same_state(checkpoint.load(4).state_dict(), network.state_dict())

    checkpoint.delete(3)
    report = collect(store, dry_run=False, grace=timedelta(hours=1))
    assert live.digest in report.deleted


def test_purging_a_run_takes_its_checkpoints_and_gc_their_blobs(store: Context) -> None:
    with kiln.start_run(capture_environment=False) as purged:
        digest = checkpoint.save(state(0), 0).digest
    store.db.run(_runs.purge_run, "default", purged.id)
    age(store.artifacts)

    report = collect(store, dry_run=False, grace=timedelta(hours=1), allow_no_references=True)

    assert store.db.read(lambda s: s.scalar(select(func.count()).select_from(CheckpointRow))) == 0
    assert digest in report.deleted


# Concurrency ---------------------------------------------------------------------------------

WRITER = """
import sys
from kiln.training import checkpoint
run_id, offset = sys.argv[1], int(sys.argv[2])
checkpoint.list(run_id)  # the stores are open: from here on, both write at once
print("ready", flush=True)
sys.stdin.readline()
for step in range(offset, 24, 2):
    value = {"step": step, "by": offset}
    checkpoint.save(value, step, metric=float(step), keep_best=24, run_id=run_id)
    checkpoint.save({"step": 100, "by": offset}, 100, run_id=run_id)
"""


def test_two_processes_saving_at_once_lose_nothing(
    store: Context, run: Any, tmp_path: Path
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("KILN_")}
    env |= {
        "KILN_HOME": str(tmp_path / "store"),
        "KILN_DATABASE_URL": store.settings.resolved_database_url,
    }
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, run.id, str(offset)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for offset in (0, 1)
    ]
    for writer in writers:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "ready\n"
    for writer in writers:
        _, stderr = writer.communicate("go\n", timeout=120)
        assert writer.returncode == 0, stderr

    assert steps() == [*range(24), 100]
    for step in range(24):
        assert checkpoint.load(step) == {"step": step, "by": step % 2}
    assert checkpoint.load(100) in ({"step": 100, "by": 0}, {"step": 100, "by": 1})


# Imports -------------------------------------------------------------------------------------


def test_saving_plain_values_imports_no_torch_numpy_or_pandas(sdk: Callable[..., Context]) -> None:
    code = (
        "import sys, kiln\n"
        "from kiln.training import checkpoint\n"
        "assert 'sqlalchemy' not in sys.modules\n"
        "with kiln.start_run(capture_environment=False):\n"
        "    checkpoint.save({'epoch': 1}, 1)\n"
        "    assert checkpoint.latest() == {'epoch': 1}\n"
        "heavy = sorted({'torch', 'numpy', 'pandas', 'pyarrow'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
    )
    home = sdk().settings.home
    env = {key: value for key, value in os.environ.items() if not key.startswith("KILN_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env | {"KILN_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_the_public_names_are_sorted_and_documented() -> None:
    assert checkpoint.__all__ == sorted(checkpoint.__all__, key=ruff_sort_key)
    for name in checkpoint.__all__:
        assert getattr(checkpoint, name).__doc__, name
