"""The cache key: step source and project code it calls, params, inputs, materializer versions."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from kiln.context import Context
from kiln.pipelines._cache import cache_key
from kiln.pipelines._entities import OutputRef
from kiln.pipelines._materializers import PandasMaterializer
from kiln.pipelines._source import source_digest
from tests.pipelines import _steps

PROJECT = """
from kiln.pipelines import pipeline, step

LIMIT = {limit}


def helper(value):
    # a comment
    return value + {added}


@step({options})
def compute(value: int) -> int:
    return helper(value) * 2 if value < LIMIT else 0


@pipeline
def project_pipeline(value: int = 1):
    return compute(value)
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ModuleType]]:
    """Writes and (re)imports a user module in a folder on sys.path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"user_project_{abs(hash(tmp_path)) % 10**8}"
    path = tmp_path / f"{name}.py"

    def write(limit: int = 10, added: int = 1, options: str = "", comment: str = "") -> ModuleType:
        source = PROJECT.format(limit=limit, added=added, options=options)
        path.write_text(source.replace("# a comment", f"# a comment{comment}"))
        if name in sys.modules:
            return importlib.reload(sys.modules[name])
        return importlib.import_module(name)

    yield write
    sys.modules.pop(name, None)


def test_source_covers_project_helpers_and_constants(project: Callable[..., ModuleType]) -> None:
    base = source_digest(project().compute.fn)

    assert source_digest(project().compute.fn) == base
    assert source_digest(project(comment=" that changed a lot").compute.fn) == base
    assert source_digest(project(options="retries=2, timeout=5").compute.fn) == base
    assert source_digest(project(added=2).compute.fn) != base
    assert source_digest(project(limit=11).compute.fn) != base


def test_library_code_is_not_part_of_the_source() -> None:
    import pandas

    from kiln.pipelines._source import _in_project

    assert _in_project(_steps.square.fn)
    assert not _in_project(pandas.DataFrame)
    assert not _in_project(source_digest)


def test_key_covers_params_inputs_and_input_materializers() -> None:
    ref = OutputRef("a" * 64, "pandas", "1", "pandas.DataFrame")
    base = cache_key(source="s", params={"n": 1}, inputs={"x": ref}, step="x")

    assert cache_key(source="s", params={"n": 1}, inputs={"x": ref}, step="other") == base
    assert cache_key(source="t", params={"n": 1}, inputs={"x": ref}, step="x") != base
    assert cache_key(source="s", params={"n": 2}, inputs={"x": ref}, step="x") != base
    for changed in (
        OutputRef("b" * 64, "pandas", "1", "pandas.DataFrame"),
        OutputRef("a" * 64, "pandas", "2", "pandas.DataFrame"),
        OutputRef("a" * 64, "arrow", "1", "pandas.DataFrame"),
    ):
        assert cache_key(source="s", params={"n": 1}, inputs={"x": changed}, step="x") != base
    assert cache_key(source="s", params={"n": 1}, inputs={"x": [ref]}, step="x") != base


def test_a_changed_helper_misses_end_to_end(
    project: Callable[..., ModuleType], sqlite_context: Context
) -> None:
    first = project().project_pipeline.run(context=sqlite_context)
    same = project(comment=" edited").project_pipeline.run(context=sqlite_context)
    changed = project(added=5).project_pipeline.run(context=sqlite_context)

    assert [first.step("compute").cached, same.step("compute").cached] == [False, True]
    assert not changed.step("compute").cached
    assert changed.step("compute").cache_key != first.step("compute").cache_key


def test_cache_false_never_hits(
    project: Callable[..., ModuleType], sqlite_context: Context
) -> None:
    module = project(options="cache=False")
    runs = [module.project_pipeline.run(context=sqlite_context) for _ in range(2)]

    assert [run.step("compute").cached for run in runs] == [False, False]


def test_a_new_materializer_version_misses(
    sqlite_context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    _steps.linear.run(context=sqlite_context)
    monkeypatch.setattr(PandasMaterializer, "version", "2")

    run = _steps.linear.run(context=sqlite_context)

    assert not run.step("make_frame").cached
    assert run.step("make_frame").outputs[0].version == "2"


def test_the_cache_is_per_project(
    make_context: Callable[..., Context], sqlite_context: Context
) -> None:
    from kiln.auth import create_project

    sqlite_context.db.run(create_project, "other")
    other = make_context(project="other")
    _steps.linear.run(context=sqlite_context)

    run = _steps.linear.run(context=other)

    assert run.project == "other"
    assert not any(step.cached for step in run.steps)
