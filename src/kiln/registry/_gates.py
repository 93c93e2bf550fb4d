"""Promotion gates: the checks an alias requires, and evaluating those the store can.

``metric_threshold`` and ``beats_current`` read the latest metrics of the
versions' source runs, so they are evaluated here, inside the transaction that
moves the alias: nobody can move the alias between the check and the move.
``callable`` checks need the model and a dataset loaded in Python; the SDK
runs them before calling ``set_alias`` and reports their results, which are
stored as reported (``evaluated_by="caller"``). A callable check with no
reported result fails.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kiln.db import utcnow
from kiln.db.tables import (
    AliasGateRow,
    LatestMetricRow,
    ModelAliasRow,
    ModelVersionRow,
    RegisteredModelRow,
)
from kiln.errors import Conflict, NotFound
from kiln.registry._checks import checks_from_text, checks_to_text, parse_checks
from kiln.registry._entities import (
    BeatsCurrent,
    CallableCheck,
    Check,
    CheckResult,
    Gate,
    MetricThreshold,
)
from kiln.registry._names import check_alias
from kiln.registry._rows import model_row, version_row

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
NOT_REPORTED = (
    "not evaluated: callable checks run in the SDK (kiln.registry.set_alias or "
    "`kiln models alias set`), which loads the model and the dataset"
)


def _gate(model: RegisteredModelRow, alias: str, row: AliasGateRow | None) -> Gate:
    if row is None:
        return Gate(model.name, alias)
    return Gate(model.name, alias, checks_from_text(row.checks), row.updated_at, row.updated_by)


def gate_checks(session: Session, model: RegisteredModelRow, alias: str) -> tuple[Check, ...]:
    row = session.get(AliasGateRow, (model.id, alias))
    return () if row is None else checks_from_text(row.checks)


def get_gate(session: Session, project: str, name: str, alias: str) -> Gate:
    """The gate of an alias (a gate with no checks when none is set)."""
    model = model_row(session, project, name)
    alias = check_alias(alias)
    return _gate(model, alias, session.get(AliasGateRow, (model.id, alias)))


def list_gates(session: Session, project: str, name: str) -> list[Gate]:
    model = model_row(session, project, name)
    rows = session.scalars(
        select(AliasGateRow).where(AliasGateRow.model_id == model.id).order_by(AliasGateRow.alias)
    )
    return [_gate(model, row.alias, row) for row in rows]


def set_gate(
    session: Session,
    project: str,
    name: str,
    alias: str,
    checks: Sequence[Any],
    *,
    actor: str = "",
) -> Gate:
    """Require ``checks`` before ``alias`` moves; an empty list removes the gate.

    The alias need not be set yet. Checks are validated here (``InvalidInput``
    naming the field, e.g. ``checks[1].op``); see ``kiln.registry._checks``.
    """
    model = model_row(session, project, name, lock=True)
    alias = check_alias(alias)
    parsed = parse_checks(checks)
    row = session.get(AliasGateRow, (model.id, alias))
    if not parsed:
        if row is not None:
            session.delete(row)
            session.flush()
        return Gate(model.name, alias)
    if row is None:
        row = AliasGateRow(model_id=model.id, alias=alias, checks="[]")
        session.add(row)
    row.checks = checks_to_text(parsed)
    row.updated_at = utcnow()
    row.updated_by = actor
    session.flush()
    return _gate(model, alias, row)


def delete_gate(session: Session, project: str, name: str, alias: str) -> None:
    model = model_row(session, project, name, lock=True)
    alias = check_alias(alias)
    result = session.execute(
        delete(AliasGateRow).where(AliasGateRow.model_id == model.id, AliasGateRow.alias == alias)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"alias {alias!r} of model {name!r} has no gate")


def evaluate_gate(
    session: Session,
    project: str,
    name: str,
    alias: str,
    version: int | str,
    *,
    reported: Sequence[CheckResult] = (),
) -> list[CheckResult]:
    """What the gate of ``alias`` says about ``version`` now, without moving anything."""
    model = model_row(session, project, name)
    alias = check_alias(alias)
    target = version_row(session, model, version)
    return evaluate_checks(
        session, gate_checks(session, model, alias), target, holder(session, model, alias), reported
    )


def holder(session: Session, model: RegisteredModelRow, alias: str) -> ModelVersionRow | None:
    """The version ``alias`` points at now, if any."""
    return session.scalar(
        select(ModelVersionRow)
        .join(ModelAliasRow, ModelAliasRow.version_id == ModelVersionRow.id)
        .where(ModelAliasRow.model_id == model.id, ModelAliasRow.alias == alias)
    )


def evaluate_checks(
    session: Session,
    checks: Sequence[Check],
    target: ModelVersionRow,
    current: ModelVersionRow | None,
    reported: Sequence[CheckResult] = (),
) -> list[CheckResult]:
    """One result per check: metric checks evaluated here, callable ones taken from ``reported``."""
    by_name = {result.name: result for result in reported}
    callables = {check.name for check in checks if isinstance(check, CallableCheck)}
    stray = sorted(set(by_name) - callables)
    if stray:
        raise Conflict(
            f"results were reported for {', '.join(map(repr, stray))}, which the gate does not "
            "hold as callable checks (did the gate change while the checks ran?); evaluate "
            "the gate again",
            field="reported",
        )
    results = []
    for check in checks:
        if isinstance(check, MetricThreshold):
            results.append(_threshold(session, check, target))
        elif isinstance(check, BeatsCurrent):
            results.append(_beats(session, check, target, current))
        else:
            found = by_name.get(check.name)
            if found is None:
                results.append(CheckResult(check.name, check.type, False, None, NOT_REPORTED))
            else:
                results.append(
                    CheckResult(
                        check.name,
                        check.type,
                        found.passed,
                        found.observed,
                        found.detail,
                        evaluated_by="caller",
                    )
                )
    return results


def _metric(session: Session, version: ModelVersionRow, key: str) -> tuple[float | None, str]:
    """The latest value of ``key`` on the version's source run, or None and why not."""
    if version.run_id is None:
        return None, f"version {version.version} has no source run to read {key!r} from"
    found = session.execute(
        select(LatestMetricRow.value, LatestMetricRow.is_nan).where(
            LatestMetricRow.run_id == version.run_id, LatestMetricRow.key == key
        )
    ).first()
    if found is None:
        return None, f"run {version.run_id} (version {version.version}) has no metric {key!r}"
    if found.is_nan:
        return None, f"metric {key!r} of version {version.version} is NaN"
    return float(found.value), ""


def _threshold(session: Session, check: MetricThreshold, target: ModelVersionRow) -> CheckResult:
    value, why = _metric(session, target, check.metric)
    if value is None:
        return CheckResult(check.name, check.type, False, None, why)
    passed = _OPS[check.op](value, check.value)
    verdict = "meets" if passed else "does not meet"
    detail = f"{check.metric} = {value:g} {verdict} {check.op} {check.value:g}"
    return CheckResult(check.name, check.type, passed, value, detail)


def _beats(
    session: Session,
    check: BeatsCurrent,
    target: ModelVersionRow,
    current: ModelVersionRow | None,
) -> CheckResult:
    new, why = _metric(session, target, check.metric)
    if current is None:
        return CheckResult(
            check.name, check.type, True, new, "no version holds the alias: nothing to beat"
        )
    if new is None:
        return CheckResult(check.name, check.type, False, None, why)
    old, why = _metric(session, current, check.metric)
    if old is None:
        return CheckResult(check.name, check.type, False, new, f"cannot compare: {why}")
    gain = new - old if check.direction == "max" else old - new
    passed = not math.isnan(gain) and gain >= check.min_delta
    better = "higher" if check.direction == "max" else "lower"
    detail = (
        f"{check.metric} {new:g} vs {old:g} of version {current.version} "
        f"(needs {better} by at least {check.min_delta:g})"
    )
    return CheckResult(check.name, check.type, passed, new, detail)
