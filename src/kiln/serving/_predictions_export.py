"""Logged inputs joined with their labels, as a new dataset version for retraining.

Which requests count: those timed in ``[since, until)`` that were answered
(status below 400, no error) on any route but ``shadow`` (a shadow model
answers a copy of a request another route served), each request id once
(the earliest). Each is joined with its label, an inner join: requests
without one are left out and counted. A request's input columns become
dataset columns, one dataset row per input row, so a request of n rows
gives n rows; a scalar label applies to each of them, a list label gives
one per row (and a list of the wrong length leaves the request out,
counted as mismatched). Requests whose model version lacked a column
another had get nulls there. The label is the last column.

Lineage: each prediction blob that gave rows is an input of the new
dataset version, and each registered model version that answered them
produced that blob.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from kiln.errors import InvalidInput, NotFound
from kiln.serving._predictions_index import check_deployment, check_range, in_range, read_batches
from kiln.serving._predictions_labels import labels_of

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy.orm import Session

    from kiln.context import Context
    from kiln.data import DatasetVersion

__all__ = ["PredictionExport", "export_dataset"]

_MISSING = object()


@dataclass(frozen=True, slots=True)
class PredictionExport:
    """The dataset version an export made (or found: the same rows give the same version)."""

    version: DatasetVersion
    #: Requests in the range that count (see the module docstring).
    requests: int
    #: Of those, the ones with a label, whose rows were exported.
    labeled: int
    #: Left out: no label posted.
    unlabeled: int
    #: Left out: a list label of the wrong length, or inputs not shaped as columns of n_rows.
    mismatched: int
    #: Rows of the dataset version.
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.version.uri,
            "version_id": self.version.version_id,
            "requests": self.requests,
            "labeled": self.labeled,
            "unlabeled": self.unlabeled,
            "mismatched": self.mismatched,
            "rows": self.rows,
        }


@dataclass
class _Joined:
    """The flattened rows, column by column, and what was left out."""

    columns: dict[str, list[Any]]
    labels: list[Any]
    #: Batch index → the (model, version) pairs whose rows were exported.
    used: dict[int, set[tuple[str, int | None]]]
    labeled: int = 0
    unlabeled: int = 0
    mismatched: int = 0


def _requests(
    context: Context,
    project: str,
    deployment: str,
    since: datetime,
    until: datetime | None,
) -> tuple[list[str], pa.Table]:
    """The digests of the batches in range, and the requests that count, earliest first."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from kiln.serving._predictions_format import SCHEMA

    batches = read_batches(context, project, deployment, since, until)
    digests = [batch.digest for batch, _ in batches]
    tables = [
        table.append_column("_batch", pa.array([index] * table.num_rows, pa.int32()))
        for index, (_, table) in enumerate(batches)
    ]
    if not tables:
        return digests, SCHEMA.empty_table().append_column("_batch", pa.array([], pa.int32()))
    table = in_range(pa.concat_tables(tables, promote_options="default"), since, until)
    answered = pc.and_(
        pc.and_(pc.less(table["status"], 400), pc.is_null(table["error"])),
        pc.not_equal(table["route"], "shadow"),
    )
    table = table.filter(answered).sort_by([("time", "ascending"), ("request_id", "ascending")])
    return digests, table


def _first_of_each(request_ids: list[str]) -> list[int]:
    """Positions of each request id's first occurrence."""
    seen: set[str] = set()
    keep = []
    for position, request_id in enumerate(request_ids):
        if request_id not in seen:
            seen.add(request_id)
            keep.append(position)
    return keep


def _shaped(inputs: Any, n_rows: int) -> bool:
    return isinstance(inputs, dict) and all(
        isinstance(values, list) and len(values) == n_rows for values in inputs.values()
    )


def _join(table: pa.Table, labels: dict[str, Any]) -> _Joined:
    """Flatten each labeled request's inputs into rows, with its label per row."""
    joined = _Joined(columns={}, labels=[], used={})
    ids = table["request_id"].to_pylist()
    fields = [table[name].to_pylist() for name in ("n_rows", "inputs", "_batch", "model")]
    versions = table["version"].to_pylist()
    total = 0
    for position in _first_of_each(ids):
        label = labels.get(ids[position], _MISSING)
        if label is _MISSING:
            joined.unlabeled += 1
            continue
        n_rows, text, batch, model = (column[position] for column in fields)
        inputs = orjson.loads(text)
        if not _shaped(inputs, n_rows) or (isinstance(label, list) and len(label) != n_rows):
            joined.mismatched += 1
            continue
        joined.labeled += 1
        for name, values in joined.columns.items():
            if name not in inputs:
                values.extend([None] * n_rows)
        for name, values in inputs.items():
            if name not in joined.columns:  # a column new in this request: null before it
                joined.columns[name] = [None] * total
            joined.columns[name].extend(values)
        joined.labels.extend(label if isinstance(label, list) else [label] * n_rows)
        total += n_rows
        if n_rows:
            joined.used.setdefault(batch, set()).add((model, versions[position]))
    return joined


def _array(values: list[Any], field: str) -> pa.Array:
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise InvalidInput(
            f"the logged values of {field} do not share one type ({error}); export a range "
            "where they do (--since/--until), or fix the labels",
            field=field,
        ) from None


def _to_table(joined: _Joined, label_column: str) -> pa.Table:
    import pyarrow as pa

    if label_column in joined.columns:
        raise InvalidInput(
            f"label column {label_column!r} is also an input column; pick another name",
            field="label_column",
        )
    arrays = {name: _array(values, f"inputs.{name}") for name, values in joined.columns.items()}
    arrays[label_column] = _array(joined.labels, "labels")
    return pa.table(arrays)


def _lineage(
    session: Session,
    project: str,
    version_id: str,
    used: dict[str, set[tuple[str, int | None]]],
) -> None:
    """Edges: blob → dataset version; registered model version → blob."""
    from sqlalchemy import select

    from kiln.auth import project_id
    from kiln.db.tables import ModelVersionRow, RegisteredModelRow
    from kiln.lineage import Edge, Node, Relation, add_edges

    owner = project_id(session, project)
    target = Node.dataset_version(version_id)
    edges = [Edge(Node.artifact(digest), target, Relation.INPUT) for digest in used]
    names = sorted({name for served in used.values() for name, _ in served})
    query = (
        select(RegisteredModelRow.name, ModelVersionRow.version)
        .join(ModelVersionRow, ModelVersionRow.model_id == RegisteredModelRow.id)
        .where(RegisteredModelRow.project_id == owner, RegisteredModelRow.name.in_(names))
    )
    registered: set[tuple[str, int | None]] = {
        (name, number) for name, number in session.execute(query)
    }
    for digest, served in used.items():
        for name, number in sorted(served & registered, key=str):
            if number is not None:
                model = Node.model_version(name, number)
                edges.append(Edge(model, Node.artifact(digest), Relation.OUTPUT))
    add_edges(session, owner, edges)


def _range_text(since: datetime, until: datetime | None) -> str:
    end = until.isoformat() if until is not None else "now"
    return f"{since.isoformat()} to {end}"


def export_dataset(
    context: Context,
    project: str,
    deployment: str,
    *,
    since: datetime,
    until: datetime | None = None,
    dataset_name: str | None = None,
    label_column: str = "label",
    created_by: str = "",
) -> PredictionExport:
    """Register the labeled inputs of ``deployment`` in ``[since, until)`` as a dataset version.

    The dataset is ``dataset_name`` (default ``<deployment>-labeled``),
    created when missing. ``NotFound`` when no request in the range has a
    label.
    """
    from kiln.data import _service
    from kiln.data._names import check_dataset_name

    check_deployment(deployment)
    if since is None:
        raise InvalidInput("export needs since: the start of the time range", field="since")
    check_range(since, until)
    name = check_dataset_name(dataset_name or f"{deployment}-labeled", field="dataset_name")
    if not isinstance(label_column, str) or not label_column:
        raise InvalidInput(
            f"label_column must be a non-empty name, got {label_column!r}", field="label_column"
        )
    digests, table = _requests(context, project, deployment, since, until)
    ids = table["request_id"].to_pylist()
    joined = _join(table, context.db.read(labels_of, project, deployment, ids))
    if not joined.labels:
        raise NotFound(
            f"no labeled predictions of deployment {deployment!r} from "
            f"{_range_text(since, until)} ({len(set(ids))} requests logged, none with a label "
            "and rows); post labels with `kiln deployments label` first",
            field="since",
        )
    data = _to_table(joined, label_column)
    version = _service.register(
        context.db,
        context.artifacts,
        project,
        data,
        name,
        source=f"prediction log of {deployment}, {_range_text(since, until)}",
        created_by=created_by,
    )
    used = {digests[index]: pairs for index, pairs in joined.used.items()}
    context.db.run(_lineage, project, version.version_id, used)
    return PredictionExport(
        version=version,
        requests=len(set(ids)),
        labeled=joined.labeled,
        unlabeled=joined.unlabeled,
        mismatched=joined.mismatched,
        rows=data.num_rows,
    )
