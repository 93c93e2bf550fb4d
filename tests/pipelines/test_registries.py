"""The materializer and runner tables: built-ins, entry points, and their errors."""

from __future__ import annotations

from concurrent.futures import Future
from importlib import metadata
from typing import Any

import pytest

import kiln.context
from kiln.artifacts import ArtifactStore
from kiln.context import Context
from kiln.errors import InvalidInput, NotFound
from kiln.pipelines import (
    BUILTIN_MATERIALIZERS,
    Materializer,
    Materializers,
    PipelineStatus,
    Runner,
    StepOutcome,
    StepTask,
    execute_task,
    get_runner,
    known_runners,
    load_output,
)
from tests.pipelines import _steps


class UpperMaterializer(Materializer):
    """Stores str values upper-cased (to show that it was the one used)."""

    name = "upper"
    version = "7"

    def handles(self, obj: object) -> bool:
        return isinstance(obj, str)

    def save(self, obj: Any, store: ArtifactStore) -> str:
        return store.put_bytes(obj.upper().encode()).digest

    def load(self, store: ArtifactStore, digest: str) -> Any:
        return store.read_bytes(digest).decode()


class InlineRunner(Runner):
    """A third-party runner: executes in this process, through ``execute_task``."""

    name = "inline"

    def submit(self, task: StepTask, store: ArtifactStore) -> Future[StepOutcome]:
        future: Future[StepOutcome] = Future()
        future.set_result(execute_task(task, store, Materializers.discover()))
        return future


def entry_points(group: str, **found: str) -> Any:
    points = [metadata.EntryPoint(name, value, group) for name, value in found.items()]
    original = metadata.entry_points

    def fake(**kwargs: Any) -> Any:
        if kwargs.get("group") == group:
            return points
        return original(**kwargs)

    return fake


def test_entry_point_materializers_come_first(
    monkeypatch: pytest.MonkeyPatch, sqlite_context: Context
) -> None:
    fake = entry_points("kiln.materializers", upper=f"{__name__}:UpperMaterializer", json="x:Y")
    monkeypatch.setattr(metadata, "entry_points", fake)

    table = Materializers.discover()

    assert table.names() == ["upper", *BUILTIN_MATERIALIZERS]  # a built-in name is not replaced
    run = _steps.round_trip.run({"kind": "json"}, context=sqlite_context)
    output = run.step("type_name").outputs[0]
    assert (output.materializer, output.version) == ("upper", "7")
    assert load_output(run.id, "type_name", context=sqlite_context) == "BUILTINS.DICT"


def test_materializer_errors() -> None:
    table = Materializers({"json": BUILTIN_MATERIALIZERS["json"], "gone": "no.such:Thing"})
    table.table["wrong"] = f"{__name__}:InlineRunner"

    with pytest.raises(NotFound, match="unknown materializer 'csv'; known: json, gone"):
        table.get("csv")
    with pytest.raises(NotFound, match="cannot be imported"):
        table.get("gone")
    with pytest.raises(InvalidInput, match="not a Materializer"):
        table.get("wrong")
    assert table.get("json") is table.get("json")


def test_entry_point_runners_join_the_table(
    monkeypatch: pytest.MonkeyPatch, sqlite_context: Context
) -> None:
    fake = entry_points("kiln.runners", inline=f"{__name__}:InlineRunner", broken="no.such:X")
    monkeypatch.setattr(metadata, "entry_points", fake)

    assert known_runners() == ["sequential", "parallel", "ray", "broken", "inline"]
    run = _steps.fan.run(runner="inline", context=sqlite_context)
    assert run.runner == "inline"
    assert run.status is PipelineStatus.SUCCEEDED
    with pytest.raises(NotFound, match="cannot be imported"):
        get_runner("broken")


def test_calling_a_pipeline_runs_it_on_the_default_context(
    monkeypatch: pytest.MonkeyPatch, sqlite_context: Context
) -> None:
    monkeypatch.setattr(kiln.context, "_default", sqlite_context)

    run = _steps.fan(n=2)

    assert run.params == {"n": 2, "use_map": False}
    assert load_output(run.id, "add_all") == 1
