"""Items in: a dataset version's rows, or any table, become a labeling project's tasks.

Each row's key is its ``key_column`` value (or its row number in the
version), so adding the same version again adds nothing. The columns the
schema shows are snapshotted into the task; ``gold_column`` (optional)
holds known answers for gold tasks, checked against the schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput
from kiln.labeling._projects import add_tasks, project_row
from kiln.labeling._schema import LabelSchema

if TYPE_CHECKING:
    import pyarrow as pa

    from kiln.context import Context

__all__ = ["add_from_dataset", "add_from_table"]


def _schema(context: Context, project: str, name: str) -> LabelSchema:
    def read(session: Any) -> str:
        return str(project_row(session, project, name).label_schema)

    return LabelSchema.parse(json.loads(context.db.read(read)))


def _plain(value: Any) -> Any:
    """A JSON-friendly cell (timestamps as ISO text, NaN as null)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    return value


def add_from_table(
    context: Context,
    project: str,
    name: str,
    table: pa.Table,
    *,
    key_column: str | None = None,
    gold_column: str | None = None,
    start: int = 0,
) -> int:
    """Add a table's rows as tasks; the number added (rows already there are skipped)."""
    schema = _schema(context, project, name)
    columns = table.column_names
    for column, field in ((key_column, "key_column"), (gold_column, "gold_column")):
        if column is not None and column not in columns:
            raise InvalidInput(f"the table has no column {column!r}", field=field)
    shown = [c for c in schema.shown_fields(columns) if c not in (key_column, gold_column)]
    rows = table.to_pylist()
    keys = [
        str(row[key_column]) if key_column is not None else str(start + index)
        for index, row in enumerate(rows)
    ]
    gold: Mapping[str, Any] | None = None
    if gold_column is not None:
        gold = {
            key: row[gold_column]
            for key, row in zip(keys, rows, strict=True)
            if row[gold_column] is not None
        }

    def items() -> Iterator[tuple[str, dict[str, Any]]]:
        for key, row in zip(keys, rows, strict=True):
            yield key, {column: _plain(row[column]) for column in shown}

    added: int = context.db.run(add_tasks, project, name, items(), gold=gold)
    return added


def add_from_dataset(
    context: Context,
    project: str,
    name: str,
    ref: str,
    *,
    key_column: str | None = None,
    gold_column: str | None = None,
    limit: int | None = None,
) -> int:
    """Add the rows of dataset version ``ref`` (``name@3``) as tasks (the first ``limit``)."""
    from kiln.data import _service

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidInput(
            f"limit must be a whole number of at least 1, got {limit!r}", field="limit"
        )
    table = _service.load(context.db, context.artifacts, project, ref)
    if limit is not None:
        table = table.slice(0, limit)
    return add_from_table(
        context, project, name, table, key_column=key_column, gold_column=gold_column
    )
