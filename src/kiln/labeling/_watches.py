"""Human in the loop as it happens: a labeling project watches a deployment.

A *watch* says: rows this deployment answers with confidence below
``threshold`` become this project's tasks. A model server with a
prediction log carries it out as it logs (nothing on the request path):
``prediction_listener`` is registered under the ``kiln.prediction_listeners``
entry point, so every ``kiln serve`` of a deployment loads it, and it runs
``_hitl.intake_table`` on each batch the log writes, for each project
watching that deployment. Tasks are keyed ``<request id>:<row>``, so a
batch seen twice (or read again by ``intake_low_confidence``) adds nothing.

The listener re-reads the watches every ``REFRESH_SECONDS``, so a watch
added or removed while a server runs takes effect within that time, and
keeps the model versions it scored with loaded between batches.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from kiln.db._base import utcnow
from kiln.db.tables.labeling import LabelingProjectRow, LabelingWatchRow
from kiln.errors import InvalidInput, NotFound
from kiln.labeling._hitl import ModelCache, check_threshold, intake_table
from kiln.labeling._projects import project_row

if TYPE_CHECKING:
    import pyarrow as pa

    from kiln.context import Context

__all__ = [
    "REFRESH_SECONDS",
    "Watch",
    "WatchListener",
    "list_watches",
    "prediction_listener",
    "unwatch_deployment",
    "watch_deployment",
]

log = logging.getLogger("kiln.labeling.watches")

#: How often a watching model server re-reads the watches.
REFRESH_SECONDS = 5.0
OUTPUT_LENGTH = 128


@dataclass(frozen=True)
class Watch:
    """A deployment a labeling project watches, and what the watch has added."""

    project: str
    name: str
    deployment: str
    threshold: float
    score_output: str | None
    prediction_output: str
    added: int
    last_added_at: datetime | None
    created_at: datetime
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "name": self.name,
            "deployment": self.deployment,
            "threshold": self.threshold,
            "score_output": self.score_output,
            "prediction_output": self.prediction_output,
            "added": self.added,
            "last_added_at": self.last_added_at.isoformat() if self.last_added_at else None,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
        }


def _entity(row: LabelingWatchRow, project: str, name: str) -> Watch:
    return Watch(
        project=project,
        name=name,
        deployment=row.deployment,
        threshold=row.threshold,
        score_output=row.score_output,
        prediction_output=row.prediction_output,
        added=row.added,
        last_added_at=row.last_added_at,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _output(value: Any, field: str, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > OUTPUT_LENGTH:
        raise InvalidInput(
            f"{field} names one of the deployment's outputs (1-{OUTPUT_LENGTH} characters), "
            f"got {value!r}",
            field=field,
        )
    return value.strip()


def _deployment(session: Session, project: str, deployment: Any) -> str:
    from kiln.serving._deployments import check_deployment_name, get_deployment

    try:
        name = check_deployment_name(deployment)
        get_deployment(session, project, name)
    except (InvalidInput, NotFound) as error:
        raise type(error)(error.message, field="deployment") from None
    return name


def watch_deployment(
    session: Session,
    project: str,
    name: str,
    deployment: str,
    *,
    threshold: float,
    score_output: str | None = None,
    prediction_output: str = "predictions",
    user: str = "",
) -> Watch:
    """Watch ``deployment`` (or change the watch's threshold and outputs); the watch."""
    threshold = check_threshold(threshold)
    score = _output(score_output, "score_output", optional=True)
    answer = str(_output(prediction_output, "prediction_output", optional=False))
    owner = project_row(session, project, name)
    deployment = _deployment(session, project, deployment)
    row = session.scalar(
        select(LabelingWatchRow).where(
            LabelingWatchRow.labeling_project_id == owner.id,
            LabelingWatchRow.deployment == deployment,
        )
    )
    if row is None:
        row = LabelingWatchRow(
            labeling_project_id=owner.id,
            deployment=deployment,
            added=0,
            created_at=utcnow(),
            created_by=user,
        )
        session.add(row)
    row.threshold, row.score_output, row.prediction_output = threshold, score, answer
    session.flush()
    return _entity(row, project, name)


def unwatch_deployment(session: Session, project: str, name: str, deployment: str) -> None:
    """Stop watching ``deployment`` (the tasks it added stay)."""
    owner = project_row(session, project, name)
    gone = session.execute(
        delete(LabelingWatchRow).where(
            LabelingWatchRow.labeling_project_id == owner.id,
            LabelingWatchRow.deployment == deployment,
        )
    )
    if not gone.rowcount:  # type: ignore[attr-defined]
        raise NotFound(
            f"labeling project {name!r} does not watch deployment {deployment!r}",
            field="deployment",
        )


def list_watches(
    session: Session, project: str, name: str | None = None, *, deployment: str | None = None
) -> list[Watch]:
    """The project's watches (one labeling project's, with ``name``), by project and deployment."""
    from kiln.auth import project_id

    query = (
        select(LabelingWatchRow, LabelingProjectRow.name)
        .join(LabelingProjectRow, LabelingProjectRow.id == LabelingWatchRow.labeling_project_id)
        .where(LabelingProjectRow.project_id == project_id(session, project))
        .order_by(LabelingProjectRow.name, LabelingWatchRow.deployment)
    )
    if name is not None:
        query = query.where(LabelingProjectRow.id == project_row(session, project, name).id)
    if deployment is not None:
        query = query.where(LabelingWatchRow.deployment == deployment)
    return [_entity(row, project, owner) for row, owner in session.execute(query)]


def _count_added(session: Session, project: str, name: str, deployment: str, added: int) -> None:
    owner = project_row(session, project, name)
    session.execute(
        update(LabelingWatchRow)
        .where(
            LabelingWatchRow.labeling_project_id == owner.id,
            LabelingWatchRow.deployment == deployment,
        )
        .values(added=LabelingWatchRow.added + added, last_added_at=utcnow())
    )


class WatchListener:
    """A prediction listener: each logged batch's unsure rows go to the projects watching it."""

    def __init__(self, context: Context, project: str) -> None:
        self.context = context
        self.project = project
        self._watches: dict[str, list[Watch]] = {}
        self._read_at = float("-inf")
        self._models: ModelCache = {}
        self._lock = threading.Lock()

    def _current(self) -> dict[str, list[Watch]]:
        now = time.monotonic()
        if now - self._read_at >= REFRESH_SECONDS:
            by_deployment: dict[str, list[Watch]] = {}
            for watch in self.context.db.read(list_watches, self.project):
                by_deployment.setdefault(watch.deployment, []).append(watch)
            self._watches, self._read_at = by_deployment, now
        return self._watches

    def __call__(self, deployment: str, table: pa.Table) -> None:
        with self._lock:  # one flusher calls it; close() may too
            for watch in self._current().get(deployment, []):
                try:
                    intake = intake_table(
                        self.context,
                        self.project,
                        watch.name,
                        table,
                        threshold=watch.threshold,
                        score_output=watch.score_output,
                        prediction_output=watch.prediction_output,
                        models=self._models,
                    )
                except NotFound:  # the labeling project went away: read the watches again
                    self._read_at = float("-inf")
                    continue
                if intake.added:
                    self.context.db.run(
                        _count_added, self.project, watch.name, deployment, intake.added
                    )
                    log.info(
                        "%d unsure answers of %r became tasks of %r",
                        intake.added,
                        deployment,
                        watch.name,
                    )


def prediction_listener(context: Context, project: str) -> WatchListener:
    """The ``kiln.prediction_listeners`` entry point: watches of ``project``'s labeling."""
    return WatchListener(context, project)
