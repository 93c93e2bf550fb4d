"""Batch scoring: a model over a file, a folder or a dataset version, into Parquet.

::

    score(model_uri, input, output) ──► BatchResult(rows, chunks, seconds, output, …)
      │  _batch_model.py     the URI to a verified local folder (an alias to its version)
      │  _batch_output.py    the output checked first: its folder exists, it is free
      │  _batch_input.py     the input cut into partitions (file, folder, dataset blobs)
      │  _batch_scorer.py    the model loaded; every partition's schema checked against
      │                      the signature before a row is written
      ▼
    runner="local"           partitions in order, chunk by chunk, into one ParquetWriter
    runner="ray"             one Ray task per partition, each its own part (_batch_ray.py)
      ▼
    staged, then renamed     out.parquet (one file) or out/part-00000.parquet, …

Memory is bounded by ``chunk_rows`` (and, on Ray, by one chunk per running
task), not by the input: each chunk is read, scored, written and dropped.
See docs/batch-scoring.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kiln.errors import InvalidInput
from kiln.serving._batch_progress import Progress, progress_bar

if TYPE_CHECKING:
    from kiln.data import DatasetVersion
    from kiln.serving._batch_input import Partition
    from kiln.serving._batch_output import OutputTarget
    from kiln.serving._batch_scorer import Method, Scorer

__all__ = ["DEFAULT_CHUNK_ROWS", "BatchResult", "Runner", "score"]

#: Rows per chunk by default: 64 Ki rows of 20 float features are 10 MiB.
DEFAULT_CHUNK_ROWS = 65_536
Runner = Literal["local", "ray"]
_RUNNERS = ("local", "ray")


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What a batch job did: rows and chunks scored, how long it took, where the rows went.

    ``model_version`` is ``models:/<name>/<n>`` when the model URI named a
    registered version (an alias resolved to its number), else None.
    """

    output: Path
    rows: int
    chunks: int
    partitions: int
    seconds: float
    columns: tuple[str, ...]
    model_uri: str
    model_version: str | None
    method: str
    runner: str

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, as ``kiln predict --json`` prints it."""
        return {
            "output": str(self.output),
            "rows": self.rows,
            "chunks": self.chunks,
            "partitions": self.partitions,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
            "columns": list(self.columns),
            "model_uri": self.model_uri,
            "model_version": self.model_version,
            "method": self.method,
            "runner": self.runner,
        }


def score(
    model_uri: str | os.PathLike[str],
    input: str | os.PathLike[str] | DatasetVersion,
    output: str | os.PathLike[str],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    method: Method = "predict",
    keep: Iterable[str] = (),
    runner: Runner = "local",
    progress: bool | Progress = False,
    allow_pickle: bool = False,
) -> BatchResult:
    """Score every row of ``input`` with the model at ``model_uri`` into the Parquet ``output``.

    ``model_uri``: anything ``kiln.registry.load_model`` takes. ``input``: a
    Parquet or CSV file, a folder of Parquet files, or a dataset version
    (``"transactions@3"`` or a ``DatasetVersion``). ``output``: a
    ``.parquet`` file, or a folder that gets one part file per input
    partition. ``keep`` names input columns copied beside the predictions
    (ids); ``method="predict_proba"`` writes one ``proba_<class>`` column per
    class. ``progress=True`` draws a bar on stderr; a callable is told
    ``(rows_done, rows_total_or_None)`` instead. ``allow_pickle=True`` loads a
    pickled model (it runs the pickle's code: only for models you trust).

    Raises :class:`~kiln.errors.NotFound` for an unknown model, a missing
    input or an output folder that does not exist, and
    :class:`~kiln.errors.InvalidInput` naming the column when the input does
    not fit the model's signature; either way before anything is written,
    and a failure midway leaves no output behind.
    """
    from kiln.serving._batch_input import partitions_of
    from kiln.serving._batch_model import resolve_model
    from kiln.serving._batch_output import target_of
    from kiln.serving._batch_scorer import Scorer, ScoringJob

    kept = _check_arguments(chunk_rows, method, keep, runner)
    started = time.perf_counter()
    target = target_of(output)
    model = resolve_model(model_uri)
    partitions = partitions_of(input)
    scorer = Scorer.load(ScoringJob(str(model.folder), method, kept, chunk_rows, allow_pickle))
    for partition in partitions:
        scorer.check(partition)
    known = [partition.rows for partition in partitions]
    total = None if None in known else sum(row for row in known if row is not None)
    with _counting(progress, total) as done:
        run = _score_ray if runner == "ray" else _score_local
        rows, chunks = run(scorer, partitions, target, done)
    return BatchResult(
        output=target.path,
        rows=rows,
        chunks=chunks,
        partitions=len(partitions),
        seconds=time.perf_counter() - started,
        columns=_output_columns(target),
        model_uri=model.uri,
        model_version=model.version_uri,
        method=method,
        runner=runner,
    )


def _check_arguments(
    chunk_rows: Any, method: Any, keep: Iterable[str], runner: Any
) -> tuple[str, ...]:
    """The keep columns as a tuple, after refusing malformed arguments (before any work)."""
    from kiln.serving._batch_scorer import METHODS

    if not isinstance(chunk_rows, int) or isinstance(chunk_rows, bool) or chunk_rows < 1:
        raise InvalidInput(
            f"chunk_rows must be a whole number of rows >= 1, got {chunk_rows!r}",
            field="chunk_rows",
        )
    if method not in METHODS:
        raise InvalidInput(
            f"method must be one of {', '.join(METHODS)}, got {method!r}", field="method"
        )
    if runner not in _RUNNERS:
        raise InvalidInput(
            f"runner must be one of {', '.join(_RUNNERS)}, got {runner!r}", field="runner"
        )
    if isinstance(keep, str):
        raise InvalidInput("keep must be a list of column names, not one string", field="keep")
    kept = tuple(keep)
    for name in kept:
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"keep holds {name!r}, which is not a column name", field="keep")
    return tuple(dict.fromkeys(kept))


@contextmanager
def _counting(progress: bool | Progress, total: int | None) -> Iterator[Callable[[int], None]]:
    """A callback adding up the rows scored and telling ``progress`` (a bar when True)."""
    with ExitStack() as stack:
        show: Progress | None = None
        if progress is True:
            show = stack.enter_context(progress_bar(enabled=True))
        elif callable(progress):
            show = progress
        done = 0

        def add(rows: int) -> None:
            nonlocal done
            done += rows
            if show is not None:
                show(done, total)

        add(0)
        yield add


def _score_local(
    scorer: Scorer,
    partitions: list[Partition],
    target: OutputTarget,
    done: Callable[[int], None],
) -> tuple[int, int]:
    """Partitions in order in this process: into one writer, or one part file each."""
    from kiln.serving._batch_output import part_name, staged
    from kiln.serving._batch_scorer import write_part

    with staged(target) as temporary:
        if target.single_file:
            return _into_one_file(scorer, partitions, temporary, done)
        return _totals(
            [
                write_part(scorer, partition, temporary / part_name(index), done)
                for index, partition in enumerate(partitions)
            ]
        )


def _into_one_file(
    scorer: Scorer, partitions: list[Partition], path: Path, done: Callable[[int], None]
) -> tuple[int, int]:
    """Every partition's chunks through one writer into ``path``; ``(rows, chunks)``."""
    from kiln.serving._batch_output import TableWriter

    writer = TableWriter(path)
    chunks = 0
    try:
        for partition in partitions:
            chunks += scorer.write_partition(partition, writer, done)
        writer.close(scorer.empty_schema(partitions[0]) if writer.rows == 0 else None)
    except BaseException:
        writer.abort()
        raise
    return writer.rows, chunks


def _score_ray(
    scorer: Scorer,
    partitions: list[Partition],
    target: OutputTarget,
    done: Callable[[int], None],
) -> tuple[int, int]:
    """One Ray task per partition into a staging folder; merged when the output is one file."""
    import tempfile

    from kiln.serving._batch_output import part_name, staged
    from kiln.serving._batch_ray import score_on_ray

    if not target.single_file:
        with staged(target) as folder:
            return _totals(score_on_ray(scorer.job, partitions, folder, done))
    parent = target.path.absolute().parent
    with tempfile.TemporaryDirectory(dir=parent, prefix=f".{target.path.name}.parts-") as parts:
        folder = Path(parts)
        results = score_on_ray(scorer.job, partitions, folder, done)
        paths = [folder / part_name(index) for index in range(len(partitions))]
        with staged(target) as temporary:
            _merge(paths, results, temporary)
    return _totals(results)


def _totals(results: list[tuple[int, int]]) -> tuple[int, int]:
    """``(rows, chunks)`` over the partitions' ``(rows, chunks)``."""
    return sum(rows for rows, _ in results), sum(chunks for _, chunks in results)


def _merge(paths: list[Path], results: list[tuple[int, int]], into: Path) -> None:
    """Part files streamed into one file, a row group at a time (empty parts skipped)."""
    import pyarrow.parquet as pq

    from kiln.serving._batch_output import TableWriter
    from kiln.serving._batch_scorer import iter_parts

    writer = TableWriter(into)
    try:
        for table in iter_parts([p for p, (rows, _) in zip(paths, results, strict=True) if rows]):
            writer.write(table)
        writer.close(pq.read_schema(paths[0]) if writer.rows == 0 else None)
    except BaseException:
        writer.abort()
        raise


def _output_columns(target: OutputTarget) -> tuple[str, ...]:
    import pyarrow.parquet as pq

    from kiln.serving._batch_output import part_name

    path = target.path if target.single_file else target.path / part_name(0)
    return tuple(pq.read_schema(path).names)
