"""Dataset inputs of runs: which data (name, content digest, schema, source) a run used."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.auth import project_id
from kiln.db.tables import DatasetRow, RunInputRow
from kiln.errors import InvalidInput
from kiln.tracking._entities import DatasetInput
from kiln.tracking._names import check_name
from kiln.tracking._runs import writable_run
from kiln.tracking._upsert import insert_for


def log_inputs(
    session: Session, project: str, run_id: str, datasets: Sequence[DatasetInput]
) -> None:
    """Record that a running run used these datasets (each stored once per project)."""
    writable_run(session, project, run_id)
    pid = project_id(session, project)
    for dataset in datasets:
        check_name(dataset.name, what="dataset name", field="datasets.name")
        if not dataset.digest or len(dataset.digest) > 64:
            raise InvalidInput(
                f"dataset {dataset.name!r} needs a digest of 1-64 characters",
                field="datasets.digest",
            )
        table = DatasetRow.__table__
        session.execute(
            insert_for(session, table).on_conflict_do_nothing(
                index_elements=[table.c.project_id, table.c.name, table.c.digest]
            ),
            [
                {
                    "project_id": pid,
                    "name": dataset.name,
                    "digest": dataset.digest,
                    "source_type": dataset.source_type,
                    "source": dataset.source,
                    "schema": dataset.schema,
                    "profile": dataset.profile,
                }
            ],
        )
        dataset_id = session.scalar(
            select(DatasetRow.id).where(
                DatasetRow.project_id == pid,
                DatasetRow.name == dataset.name,
                DatasetRow.digest == dataset.digest,
            )
        )
        links = RunInputRow.__table__
        session.execute(
            insert_for(session, links).on_conflict_do_update(
                index_elements=[links.c.run_id, links.c.dataset_id],
                set_={"context": dataset.context},
            ),
            [{"run_id": run_id, "dataset_id": dataset_id, "context": dataset.context}],
        )
