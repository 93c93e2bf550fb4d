"""Labelled data out: a new dataset version (Parquet), JSON Lines or CSV, page by page.

Tasks are read a page at a time (``PAGE`` tasks, by id) and written as they
come, so an export of a million tasks holds one page in memory: JSON Lines
and CSV stream to their file; Parquet is written in row groups to a
temporary file that is then registered as the next version of a dataset,
recording where it came from (``labeling:<project>``). Only labelled tasks
(complete or reviewed) are exported; each row carries the item's fields,
its label, its agreement, how many answered and who reviewed it.
``labelled_count`` says how many there are, so a caller can choose between
exporting inline and as a background job (``_export_job.py``).
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiln.data._names import check_dataset_name
from kiln.db.tables.labeling import AnnotationRow, LabelingTaskRow
from kiln.errors import InvalidInput
from kiln.labeling._projects import project_row

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.data import DatasetVersion

__all__ = ["PAGE", "export_dataset", "export_file", "labelled_count", "labelled_pages"]

PAGE = 5000
Format = Literal["jsonl", "csv"]
LABEL = "label"
LABELLED = ("complete", "reviewed")


def labelled_count(session: Session, project: str, name: str) -> int:
    """How many tasks of labeling project ``name`` are labelled (complete or reviewed)."""
    owner = project_row(session, project, name)
    return int(
        session.scalar(
            select(func.count())
            .select_from(LabelingTaskRow)
            .where(
                LabelingTaskRow.labeling_project_id == owner.id,
                LabelingTaskRow.status.in_(LABELLED),
            )
        )
        or 0
    )


def _page(session: Session, project: str, name: str, after: int) -> list[dict[str, Any]]:
    owner = project_row(session, project, name)
    rows = list(
        session.scalars(
            select(LabelingTaskRow)
            .where(
                LabelingTaskRow.labeling_project_id == owner.id,
                LabelingTaskRow.status.in_(LABELLED),
                LabelingTaskRow.id > after,
            )
            .order_by(LabelingTaskRow.id)
            .limit(PAGE)
        )
    )
    answers: dict[int, int] = dict.fromkeys((row.id for row in rows), 0)
    if rows:
        for task_id in session.scalars(
            select(AnnotationRow.task_id).where(
                AnnotationRow.task_id.in_(list(answers)), AnnotationRow.skipped.is_(False)
            )
        ):
            answers[task_id] += 1
    return [
        {
            "_task_id": row.id,
            "item_key": row.item_key,
            **json.loads(row.data),
            LABEL: json.loads(row.consensus) if row.consensus is not None else None,
            "agreement": row.agreement,
            "annotators": answers[row.id],
            "reviewed_by": row.reviewed_by,
        }
        for row in rows
    ]


def labelled_pages(context: Context, project: str, name: str) -> Iterator[list[dict[str, Any]]]:
    """The labelled tasks of a project, a page at a time, by task id."""
    after = 0
    while True:
        page = context.db.read(_page, project, name, after)
        if not page:
            return
        after = page[-1]["_task_id"]
        for row in page:
            del row["_task_id"]
        yield page


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list | dict) else value


def export_file(
    context: Context,
    project: str,
    name: str,
    path: str | Path,
    *,
    format: Format = "jsonl",
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the labelled tasks to ``path`` as JSON Lines or CSV; the rows written."""
    if format not in ("jsonl", "csv"):
        raise InvalidInput(f"format {format!r} is not jsonl or csv", field="format")
    target = Path(path)
    written = 0
    with target.open("w", encoding="utf-8", newline="") as out:
        writer: csv.DictWriter[str] | None = None
        for page in labelled_pages(context, project, name):
            if format == "jsonl":
                out.writelines(json.dumps(row, default=str) + "\n" for row in page)
            else:
                if writer is None:
                    writer = csv.DictWriter(out, fieldnames=list(page[0]), extrasaction="ignore")
                    writer.writeheader()
                writer.writerows({k: _cell(v) for k, v in row.items()} for row in page)
            written += len(page)
            if progress is not None:
                progress(written)
    return written


def _fixed(schema: Any) -> Any:
    """The file's schema from the first page, with types a later page cannot contradict.

    The export's own columns get their types; a field that is null on every
    task of the first page (Arrow's ``null`` type) becomes text, so a later
    page that has values still fits.
    """
    import pyarrow as pa

    known = {
        "item_key": pa.string(),
        "agreement": pa.float64(),
        "annotators": pa.int64(),
        "reviewed_by": pa.string(),
    }
    return pa.schema(
        [
            pa.field(
                f.name,
                known.get(f.name, pa.string() if pa.types.is_null(f.type) else f.type),
            )
            for f in schema
        ]
    )


def export_dataset(
    context: Context,
    project: str,
    name: str,
    dataset: str,
    *,
    description: str = "",
    user: str = "",
    progress: Callable[[int], None] | None = None,
) -> DatasetVersion:
    """Register the labelled tasks as the next version of ``dataset`` (Parquet).

    The dataset's name is checked first, so a bad one is refused before a
    single page is read.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from kiln.data import _service

    check_dataset_name(dataset, field="dataset")
    written = 0
    with tempfile.TemporaryDirectory(prefix="kiln-labels-") as folder:
        file = Path(folder) / "labels.parquet"
        writer: pq.ParquetWriter | None = None
        try:
            for page in labelled_pages(context, project, name):
                table = pa.Table.from_pylist(page)
                if writer is None:
                    writer = pq.ParquetWriter(file, _fixed(table.schema))
                writer.write_table(table.cast(writer.schema))
                written += len(page)
                if progress is not None:
                    progress(written)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise InvalidInput(
                f"labeling project {name!r} has no labelled task yet: nothing to export",
                field="name",
            )
        return _service.register(
            context.db,
            context.artifacts,
            project,
            file,
            dataset,
            description=description or f"labels of labeling project {name!r}",
            source=f"labeling:{name}",
            created_by=user,
        )
