"""Batch scoring on Ray: one task per partition, each writing its own part file.

Each task gets the :class:`~kiln.serving._batch_scorer.ScoringJob` and its
partition (plain data), loads and verifies the model itself, and writes
``part-<i>.parquet`` into the staging folder; the caller renames that
folder into place, or merges the parts into one file. The tasks read the
model folder, the input and the staging folder by path, so on a cluster
of several machines those must be on storage every node mounts (as the
pipeline runner's artifact store must be).

An existing Ray connection (``ray.init`` called already, or ``RAY_ADDRESS``)
is used; otherwise a local Ray instance is started for the job and shut
down after it. Ray's own retries are off: a partition that fails fails the
job, and the part files of the others are discarded with the staging folder.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from kiln.errors import Conflict, KilnError
from kiln.serving._batch_output import part_name

if TYPE_CHECKING:
    from kiln.serving._batch_input import Partition
    from kiln.serving._batch_scorer import ScoringJob

__all__ = ["score_on_ray"]

#: How long to wait for cancelled tasks to stop before the staging folder is removed.
_CANCEL_WAIT_SECONDS = 10.0


def score_on_ray(
    job: ScoringJob,
    partitions: list[Partition],
    folder: Path,
    done: Callable[[int], None],
) -> list[tuple[int, int]]:
    """Score every partition in its own Ray task; ``(rows, chunks)`` per partition, in order.

    ``done`` is called with a partition's row count as each task finishes.
    """
    from kiln.pipelines._ray import import_ray

    ray = import_ray()
    owned = not ray.is_initialized()
    if owned:
        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(score_partition)
        order = {
            task.remote(job, partition, str(folder / part_name(index))): index
            for index, partition in enumerate(partitions)
        }
        return _gather(ray, order, done)
    finally:
        if owned:
            ray.shutdown()


def score_partition(job: ScoringJob, partition: Partition, path: str) -> tuple[int, int]:
    """The body of one Ray task: load the model, score the partition into ``path``."""
    from kiln.serving._batch_scorer import Scorer, write_part

    return write_part(Scorer.load(job), partition, Path(path))


def _gather(
    ray: ModuleType, order: dict[Any, int], done: Callable[[int], None]
) -> list[tuple[int, int]]:
    """Results in partition order as tasks finish; on the first failure, cancel the rest."""
    results: list[tuple[int, int]] = [(0, 0)] * len(order)
    pending = list(order)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                rows, chunks = _result(ray, ref)
                results[order[ref]] = (rows, chunks)
                done(rows)
    except BaseException:
        for ref in pending:
            with contextlib.suppress(Exception):  # finished already, or Ray is gone
                ray.cancel(ref, force=True)
        with contextlib.suppress(Exception):
            ray.wait(pending, num_returns=len(pending), timeout=_CANCEL_WAIT_SECONDS)
        raise
    return results


def _result(ray: ModuleType, ref: Any) -> tuple[int, int]:
    """A task's result; a Kiln error inside it is raised as itself, anything else as Conflict."""
    try:
        rows, chunks = ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, KilnError):
            raise cause from None
        raise Conflict(f"a Ray task scoring a partition failed: {cause or error}") from None
    except ray.exceptions.RayError as error:
        raise Conflict(f"a Ray task scoring a partition did not finish: {error}") from None
    return int(rows), int(chunks)
