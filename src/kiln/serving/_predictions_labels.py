"""Ground-truth labels of logged requests, posted later by request id.

A label is a JSON scalar (text, number, true/false) that applies to every
input row of its request, or a list of scalars with one per input row (for a
request that scored several rows). Posting a label for a request id that
has a label already replaces it. Labels for request ids the log has not
seen are accepted and kept: the prediction may still be in a server's
buffer, and the export's inner join leaves out labels that never meet a
prediction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kiln.auth import project_id
from kiln.db import utcnow
from kiln.db.tables import PredictionLabelRow
from kiln.db.tables.serving import REQUEST_ID_LENGTH
from kiln.errors import InvalidInput
from kiln.serving._predictions_index import check_deployment

__all__ = ["LabelsPosted", "labels_of", "normalize_labels", "post_labels"]

#: Request ids asked about per query (under SQLite's variable limit).
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class LabelsPosted:
    """What a post did: labels new to the store, and labels it replaced."""

    added: int
    replaced: int


def _check_scalar(value: Any, field: str) -> None:
    if isinstance(value, bool | int | str):
        return
    if isinstance(value, float) and math.isfinite(value):
        return
    raise InvalidInput(
        f"a label is text, a number or true/false (or a list of them, one per input row), "
        f"got {value!r}",
        field=field,
    )


def _check_label(value: Any, field: str) -> Any:
    if isinstance(value, list | tuple):
        if not value:
            raise InvalidInput("a list label needs one value per input row, got []", field=field)
        for index, item in enumerate(value):
            _check_scalar(item, f"{field}[{index}]")
        return list(value)
    _check_scalar(value, field)
    return value


def _check_request_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value or len(value) > REQUEST_ID_LENGTH:
        raise InvalidInput(
            f"a request id is 1-{REQUEST_ID_LENGTH} characters of text, got {value!r}",
            field=field,
        )
    return value


def _pairs(labels: Any) -> Iterable[tuple[Any, Any, str]]:
    """``(request_id, label, field)`` from a mapping or a list of ``{request_id, label}``."""
    if isinstance(labels, Mapping):
        for request_id, label in labels.items():
            yield request_id, label, f"labels.{request_id}"
        return
    if isinstance(labels, Sequence) and not isinstance(labels, str | bytes):
        for index, item in enumerate(labels):
            field = f"labels[{index}]"
            if not isinstance(item, Mapping) or set(item) != {"request_id", "label"}:
                raise InvalidInput(
                    f"each label is {{'request_id': ..., 'label': ...}}, got {item!r}", field=field
                )
            yield item["request_id"], item["label"], field
        return
    raise InvalidInput(
        "labels are a mapping of request id to label, or a list of "
        f"{{'request_id', 'label'}} objects; got {type(labels).__name__}",
        field="labels",
    )


def normalize_labels(labels: Any) -> dict[str, Any]:
    """The labels by request id (a later duplicate wins); ``InvalidInput`` names a bad field."""
    found: dict[str, Any] = {}
    for request_id, label, field in _pairs(labels):
        found[_check_request_id(request_id, f"{field}.request_id")] = _check_label(
            label, f"{field}.label" if field.startswith("labels[") else field
        )
    if not found:
        raise InvalidInput("no labels given", field="labels")
    return found


def post_labels(session: Session, project: str, deployment: str, labels: Any) -> LabelsPosted:
    """Store ``labels`` (request id → label) of ``deployment``, replacing earlier ones."""
    check_deployment(deployment)
    checked = normalize_labels(labels)
    owner = project_id(session, project)
    ids = list(checked)
    known = 0
    for start in range(0, len(ids), _CHUNK):
        known += len(
            session.scalars(
                select(PredictionLabelRow.request_id).where(
                    PredictionLabelRow.project_id == owner,
                    PredictionLabelRow.deployment == deployment,
                    PredictionLabelRow.request_id.in_(ids[start : start + _CHUNK]),
                )
            ).all()
        )
    now = utcnow()
    rows = [
        {
            "project_id": owner,
            "deployment": deployment,
            "request_id": request_id,
            "label": orjson.dumps(label).decode(),
            "created_at": now,
            "updated_at": now,
        }
        for request_id, label in checked.items()
    ]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(PredictionLabelRow)
    statement = statement.on_conflict_do_update(
        index_elements=["project_id", "deployment", "request_id"],
        set_={"label": statement.excluded.label, "updated_at": statement.excluded.updated_at},
    )
    session.execute(statement, rows)
    return LabelsPosted(added=len(rows) - known, replaced=known)


def labels_of(
    session: Session, project: str, deployment: str, request_ids: Sequence[str]
) -> dict[str, Any]:
    """The labels stored for those of ``request_ids`` that have one, decoded."""
    owner = project_id(session, project)
    found: dict[str, Any] = {}
    ids = list(dict.fromkeys(request_ids))
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(PredictionLabelRow.request_id, PredictionLabelRow.label).where(
                PredictionLabelRow.project_id == owner,
                PredictionLabelRow.deployment == deployment,
                PredictionLabelRow.request_id.in_(ids[start : start + _CHUNK]),
            )
        )
        for request_id, label in rows:
            found[request_id] = orjson.loads(label)
    return found
