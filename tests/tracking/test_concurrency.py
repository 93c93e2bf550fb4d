"""Eight processes logging to one run at once lose nothing."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

import kiln
from kiln.tracking import _fluent

WRITERS = 8
POINTS = 500


def _log_from_process(home: str, database_url: str, run_id: str, writer: int) -> int:
    kiln.configure(home=home, database_url=database_url)
    for step in range(POINTS):
        kiln.log_metric(f"w{writer}", float(step), step=step, run_id=run_id)
        kiln.log_metric("shared", float(writer * POINTS + step), step=step, run_id=run_id)
    kiln.log_param(f"writer_{writer}", writer, run_id=run_id)
    kiln.set_tag(f"tag_{writer}", "done", run_id=run_id)
    kiln.flush()
    kiln.get_context().close()
    return writer


@pytest.mark.parametrize(
    "dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_eight_processes_logging_to_one_run(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue("sqlite_url" if dialect == "sqlite" else "postgres_url")
    home = str(tmp_path / "home")
    kiln.configure(home=home, database_url=url)
    try:
        with kiln.start_run(capture_environment=False) as run:
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(WRITERS) as pool:
                done = pool.starmap(
                    _log_from_process, [(home, url, run.id, w) for w in range(WRITERS)]
                )
            assert sorted(done) == list(range(WRITERS))
        stored = kiln.get_run(run.id)
        assert len(stored.params) == WRITERS
        assert {k for k in stored.tags if k.startswith("tag_")} == {
            f"tag_{w}" for w in range(WRITERS)
        }
        histories = kiln.get_metric_histories([run.id])[run.id]
        for writer in range(WRITERS):
            assert [m.value for m in histories[f"w{writer}"]] == [float(s) for s in range(POINTS)]
        assert len(histories["shared"]) == WRITERS * POINTS
        assert stored.metrics["shared"].step == POINTS - 1
    finally:
        _fluent._reset_for_tests()
        kiln.get_context().close()
