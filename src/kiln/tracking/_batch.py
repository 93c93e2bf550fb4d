"""The statements behind ``log_batch``: built once per dialect, reused on every call.

Reusing the same statement objects lets SQLAlchemy's compiled cache hit;
building them per call cost more than running them. The upserts keep each
run's latest metric, params write-once and tags mutable.
"""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from kiln.db.tables import LatestMetricRow, MetricRow, ParamRow, RunTagRow
from kiln.errors import Conflict
from kiln.tracking._names import (
    MAX_KEY_LENGTH,
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    check_key,
    check_value,
)
from kiln.tracking._upsert import insert_for


def statements(session: Session) -> Statements:
    """The upserts of ``log_batch`` for the session's dialect, built once and reused.

    Reusing the same statement objects lets SQLAlchemy's compiled cache hit;
    building them per call cost more than running them.
    """
    dialect = session.get_bind().dialect.name
    found = _STATEMENTS.get(dialect)
    if found is None:
        found = _STATEMENTS[dialect] = Statements(session)
    return found


class Statements:
    def __init__(self, session: Session) -> None:
        latest = LatestMetricRow.__table__
        upsert = insert_for(session, latest)
        self.latest = upsert.on_conflict_do_update(
            index_elements=[latest.c.run_id, latest.c.key],
            set_={
                "value": upsert.excluded.value,
                "is_nan": upsert.excluded.is_nan,
                "step": upsert.excluded.step,
                "timestamp": upsert.excluded.timestamp,
            },
            where=(upsert.excluded.step > latest.c.step)
            | (
                (upsert.excluded.step == latest.c.step)
                & (upsert.excluded.timestamp >= latest.c.timestamp)
            ),
        )
        params = ParamRow.__table__
        self.params = insert_for(session, params).on_conflict_do_nothing(
            index_elements=[params.c.run_id, params.c.key]
        )
        tags = RunTagRow.__table__
        upsert = insert_for(session, tags)
        self.tags = upsert.on_conflict_do_update(
            index_elements=[tags.c.run_id, tags.c.key],
            set_={"value": upsert.excluded.value, "value_prefix": upsert.excluded.value_prefix},
        )
        self.metrics = insert(MetricRow)
        self.stored_params = select(ParamRow.key, ParamRow.value).where(
            ParamRow.run_id == bindparam("run_id"),
            ParamRow.key.in_(bindparam("keys", expanding=True)),
        )


_STATEMENTS: dict[str, Statements] = {}


def upsert_latest(session: Session, rows: list[dict[str, object]]) -> None:
    latest: dict[str, dict[str, object]] = {}
    for row in rows:
        current = latest.get(str(row["key"]))
        if current is None or (row["step"], row["timestamp"]) >= (
            current["step"],
            current["timestamp"],
        ):
            latest[str(row["key"])] = row
    session.connection().execute(statements(session).latest, list(latest.values()))


def insert_params(session: Session, run_id: str, items: list[tuple[str, str]]) -> None:
    wanted: dict[str, str] = {}
    for key, value in items:
        check_key(key, what="param key", field="params.key")
        text = str(value)
        check_value(text, limit=MAX_PARAM_VALUE_LENGTH, what=f"param {key!r}", field="params.value")
        if key in wanted and wanted[key] != text:
            raise Conflict(f"param {key!r} is given twice with different values in one batch")
        wanted[key] = text
    stored = stored_params(session, run_id, list(wanted))
    fresh = {key: value for key, value in wanted.items() if key not in stored}
    if fresh:
        session.connection().execute(
            statements(session).params,
            [
                {"run_id": run_id, "key": k, "value": v, "value_prefix": v[:MAX_KEY_LENGTH]}
                for k, v in fresh.items()
            ],
        )
        if session.get_bind().dialect.name != "sqlite":
            # Concurrent writers may have raced us to a key (SQLite serialises
            # writers, PostgreSQL does not): compare with what is stored now.
            stored = stored_params(session, run_id, list(wanted))
    for key, value in wanted.items():
        if stored.get(key, value) != value:
            raise Conflict(
                f"param {key!r} of run {run_id} is already {stored.get(key)!r}; params cannot "
                f"change (tried {value!r}): log it under another key or start a new run",
                field="params.value",
            )


def stored_params(session: Session, run_id: str, keys: list[str]) -> dict[str, str]:
    rows = session.connection().execute(
        statements(session).stored_params, {"run_id": run_id, "keys": keys}
    )
    return dict(rows.all())


def upsert_tags(session: Session, run_id: str, items: list[tuple[str, str]]) -> None:
    values: dict[str, str] = {}
    for key, value in items:
        check_key(key, what="tag key", field="tags.key")
        values[key] = check_value(
            str(value), limit=MAX_TAG_VALUE_LENGTH, what=f"tag {key!r}", field="tags.value"
        )
    session.connection().execute(
        statements(session).tags,
        [
            {"run_id": run_id, "key": k, "value": v, "value_prefix": v[:MAX_KEY_LENGTH]}
            for k, v in values.items()
        ],
    )
