"""The study half of ``KilnStorage``: study records, their attributes, and what a process keeps.

Kept apart from the trials (``_storage.py``) because it changes for other
reasons: studies are few and read once per process, trials are many and
written on the hot path. The mixin expects ``context``, ``project`` and the
``_studies`` cache that ``KilnStorage.__init__`` sets.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from optuna.exceptions import DuplicatedStudyError
from optuna.study import StudyDirection
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial
from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.auth import project_id
from kiln.db._base import utcnow
from kiln.db.tables.training import TuningStudyRow
from kiln.training._trial_rows import dumps
from kiln.training._trial_runs import StudyRuns

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["StudyRecords"]


class _Study:
    """What this process keeps of a study: names, directions, cached trials."""

    def __init__(self, row: TuningStudyRow, runs: StudyRuns | None) -> None:
        self.id = row.id
        self.name = row.name
        self.directions = [StudyDirection[d.upper()] for d in json.loads(row.directions)]
        self.runs = runs
        self.finished: dict[int, FrozenTrial] = {}
        self.unfinished: set[int] = set()
        self.seen = 0


class StudyRecords:
    """Optuna's study methods over ``tuning_studies``, with a per-process study cache."""

    context: Context
    project: str
    _studies: dict[int, _Study]

    def _run(self, fn: Any, *args: Any) -> Any:
        return self.context.db.run(fn, *args)

    def _study(self, study_id: int) -> _Study:
        found = self._studies.get(study_id)
        if found is None:
            found = self.context.db.read(self._load_study, study_id)
            self._studies[study_id] = found
        return found

    def _load_study(self, session: Session, study_id: int) -> _Study:
        from kiln.db.tables.tracking import RunRow

        row = session.get(TuningStudyRow, study_id)
        if row is None or row.project_id != project_id(session, self.project):
            raise KeyError(f"no study with id {study_id}")
        runs = None
        if row.parent_run_id is not None:
            experiment = session.scalar(
                select(RunRow.experiment_id).where(RunRow.id == row.parent_run_id)
            )
            if experiment is not None:
                runs = StudyRuns(self.project, row.name, row.parent_run_id, str(experiment))
        return _Study(row, runs)

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        name = study_name or f"no-name-{uuid.uuid4()}"

        def create(session: Session) -> int:
            owner = project_id(session, self.project)
            taken = session.scalar(
                select(TuningStudyRow.id).where(
                    TuningStudyRow.project_id == owner, TuningStudyRow.name == name
                )
            )
            if taken is not None:
                raise DuplicatedStudyError(f"study {name!r} already exists")
            row = TuningStudyRow(
                project_id=owner,
                name=name,
                directions=dumps([d.name.lower() for d in directions]),
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            return row.id

        study_id: int = self._run(create)
        return study_id

    def delete_study(self, study_id: int) -> None:
        def delete(session: Session) -> None:
            row = session.get(TuningStudyRow, study_id)
            if row is None or row.project_id != project_id(session, self.project):
                raise KeyError(f"no study with id {study_id}")
            session.delete(row)

        self._run(delete)
        self._studies.pop(study_id, None)

    def _set_study_attr(self, study_id: int, column: str, key: str, value: Any) -> None:
        def write(session: Session) -> None:
            row = session.get(TuningStudyRow, study_id, with_for_update=True)
            if row is None:
                raise KeyError(f"no study with id {study_id}")
            attrs = json.loads(getattr(row, column))
            attrs[key] = value
            setattr(row, column, dumps(attrs))

        self._run(write)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._set_study_attr(study_id, "user_attrs", key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._set_study_attr(study_id, "system_attrs", key, value)

    def _study_row(self, session: Session, study_id: int) -> TuningStudyRow:
        row = session.get(TuningStudyRow, study_id)
        if row is None or row.project_id != project_id(session, self.project):
            raise KeyError(f"no study with id {study_id}")
        return row

    def get_study_id_from_name(self, study_name: str) -> int:
        def find(session: Session) -> int | None:
            return session.scalar(
                select(TuningStudyRow.id).where(
                    TuningStudyRow.project_id == project_id(session, self.project),
                    TuningStudyRow.name == study_name,
                )
            )

        found: int | None = self.context.db.read(find)
        if found is None:
            raise KeyError(f"no study named {study_name!r}")
        return found

    def get_study_name_from_id(self, study_id: int) -> str:
        return self._study(study_id).name

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return list(self._study(study_id).directions)

    def _study_attrs(self, study_id: int, column: str) -> dict[str, Any]:
        def read(session: Session) -> dict[str, Any]:
            attrs: dict[str, Any] = json.loads(getattr(self._study_row(session, study_id), column))
            return attrs

        found: dict[str, Any] = self.context.db.read(read)
        return found

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self._study_attrs(study_id, "user_attrs")

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self._study_attrs(study_id, "system_attrs")

    def get_all_studies(self) -> list[FrozenStudy]:
        def load(session: Session) -> list[FrozenStudy]:
            rows = session.scalars(
                select(TuningStudyRow)
                .where(TuningStudyRow.project_id == project_id(session, self.project))
                .order_by(TuningStudyRow.id)
            )
            return [
                FrozenStudy(
                    study_name=row.name,
                    direction=None,
                    directions=[StudyDirection[d.upper()] for d in json.loads(row.directions)],
                    user_attrs=json.loads(row.user_attrs),
                    system_attrs=json.loads(row.system_attrs),
                    study_id=row.id,
                )
                for row in rows
            ]

        found: list[FrozenStudy] = self.context.db.read(load)
        return found
