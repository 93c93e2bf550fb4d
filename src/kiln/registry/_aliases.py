"""Aliases: moving them through their gate, removing them, their history and rollback.

Every move is an ``alias_events`` row written in the same transaction as the
move: who, when, from which version to which, the gate's results and whether
failed checks were overridden. The model's row is locked first, so moves of one
model's aliases are serialised and each event's ``from_version`` is exact.

Rollback treats the history as an undo stack: ``set`` and ``delete`` events
push, ``rollback`` events pop. Rolling back undoes the newest move still on the
stack, so two rollbacks after moves to v2 and v3 lead back to v1, not to v3.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.auth import project_id
from kiln.db import utcnow
from kiln.db.tables import AliasEventRow, ModelAliasRow, ModelVersionRow, RegisteredModelRow
from kiln.errors import Conflict, NotFound
from kiln.registry._checks import describe_failures, results_from_text, results_to_text
from kiln.registry._entities import AliasAction, AliasEvent, CheckResult, ModelVersion
from kiln.registry._gates import evaluate_checks, gate_checks, holder
from kiln.registry._names import check_alias
from kiln.registry._rows import load_versions, model_row, version_row

MAX_NOTE = 2000


def _event(model_name: str, row: AliasEventRow) -> AliasEvent:
    return AliasEvent(
        id=row.id,
        name=model_name,
        alias=row.alias,
        action=AliasAction(row.action),
        from_version=row.from_version,
        to_version=row.to_version,
        actor=row.actor,
        at=row.at,
        results=results_from_text(row.gate_results),
        forced=row.forced,
        note=row.note,
    )


def record_event(
    session: Session,
    model: RegisteredModelRow,
    alias: str,
    action: AliasAction,
    from_version: int | None,
    to_version: int | None,
    *,
    actor: str,
    results: Sequence[CheckResult] = (),
    forced: bool = False,
    note: str = "",
) -> AliasEvent:
    row = AliasEventRow(
        model_id=model.id,
        alias=alias,
        action=action.value,
        from_version=from_version,
        to_version=to_version,
        actor=actor,
        at=utcnow(),
        gate_results=results_to_text(results),
        forced=forced,
        note=str(note)[:MAX_NOTE],
    )
    session.add(row)
    session.flush()
    return _event(model.name, row)


def _point(
    session: Session, model: RegisteredModelRow, alias: str, target: ModelVersionRow
) -> None:
    row = session.get(ModelAliasRow, (model.id, alias))
    if row is None:
        session.add(ModelAliasRow(model_id=model.id, alias=alias, version_id=target.id))
    else:
        row.version_id = target.id
    model.updated_at = utcnow()


def _events(session: Session, model: RegisteredModelRow, alias: str | None) -> list[AliasEventRow]:
    """Events of one alias (or all), oldest first."""
    query = select(AliasEventRow).where(AliasEventRow.model_id == model.id)
    if alias is not None:
        query = query.where(AliasEventRow.alias == alias)
    return list(session.scalars(query.order_by(AliasEventRow.id)))


def get_version_by_alias(session: Session, project: str, name: str, alias: str) -> ModelVersion:
    model = model_row(session, project, name)
    alias = check_alias(alias)
    found = holder(session, model, alias)
    if found is None:
        raise NotFound(f"registered model {name!r} has no alias {alias!r}")
    return load_versions(session, [found])[0]


def set_alias(
    session: Session,
    project: str,
    name: str,
    alias: str,
    version: int | str,
    *,
    actor: str = "",
    reported: Sequence[CheckResult] = (),
    force: bool = False,
    note: str = "",
) -> AliasEvent:
    """Point ``alias`` at ``version`` once its gate passes; returns the recorded event.

    The gate's metric checks are evaluated here; callable checks come in
    ``reported`` (the SDK runs them). When a check fails the alias stays and
    ``Conflict`` names the failed checks, unless ``force=True`` (the REST API
    and the CLI allow that to project admins only), which moves it anyway and
    marks the event ``forced``. Setting an alias to the version it already
    points at changes nothing and returns the event that put it there.
    """
    model = model_row(session, project, name, lock=True)
    alias = check_alias(alias)
    target = version_row(session, model, version)
    current = holder(session, model, alias)
    if current is not None and current.id == target.id:
        history = _events(session, model, alias)
        if history:
            return _event(model.name, history[-1])
    results = evaluate_checks(
        session, gate_checks(session, model, alias), target, current, reported
    )
    failed = [result for result in results if not result.passed]
    if failed and not force:
        raise Conflict(
            f"alias {alias!r} of model {name!r} stays "
            + (f"on version {current.version}" if current is not None else "unset")
            + f": version {target.version} failed {len(failed)} of {len(results)} gate "
            f"check(s): {describe_failures(failed)}. Fix the version, change the gate, or "
            "have a project admin move it with force=True (kiln models alias set --force)",
            field="alias",
        )
    _point(session, model, alias, target)
    return record_event(
        session,
        model,
        alias,
        AliasAction.SET,
        current.version if current is not None else None,
        target.version,
        actor=actor,
        results=results,
        forced=bool(failed),
        note=note,
    )


def delete_alias(
    session: Session, project: str, name: str, alias: str, *, actor: str = "", note: str = ""
) -> AliasEvent:
    """Remove an alias (``NotFound`` when it is not set); recorded as a ``delete`` event."""
    model = model_row(session, project, name, lock=True)
    alias = check_alias(alias)
    row = session.get(ModelAliasRow, (model.id, alias))
    if row is None:
        raise NotFound(f"registered model {name!r} has no alias {alias!r}")
    current = session.get(ModelVersionRow, row.version_id)
    session.delete(row)
    model.updated_at = utcnow()
    return record_event(
        session,
        model,
        alias,
        AliasAction.DELETE,
        current.version if current is not None else None,
        None,
        actor=actor,
        note=note,
    )


def _undo_stack(events: Sequence[AliasEventRow]) -> list[AliasEventRow]:
    stack: list[AliasEventRow] = []
    for event in events:
        if event.action == AliasAction.ROLLBACK.value:
            if stack:
                stack.pop()
        else:
            stack.append(event)
    return stack


def rollback_alias(
    session: Session, project: str, name: str, alias: str, *, actor: str = "", note: str = ""
) -> AliasEvent:
    """Undo the newest move of ``alias`` still in effect, as a ``rollback`` event.

    The alias goes back to the version it held before that move (or is removed
    when it had none). Gates are not run: the alias returns to a version it
    held before. ``NotFound`` when the alias has no history, ``Conflict`` when
    every move is undone already or the earlier version was deleted.
    """
    model = model_row(session, project, name, lock=True)
    alias = check_alias(alias)
    events = _events(session, model, alias)
    if not events:
        raise NotFound(f"alias {alias!r} of model {name!r} has no history to roll back")
    stack = _undo_stack(events)
    if not stack:
        raise Conflict(
            f"every move of alias {alias!r} of model {name!r} is rolled back already; "
            "point it at a version with set_alias"
        )
    undone = stack[-1]
    current = holder(session, model, alias)
    text = f"rolls back event {undone.id}" + (f": {note}" if note else "")
    if undone.from_version is None:
        row = session.get(ModelAliasRow, (model.id, alias))
        if row is not None:
            session.delete(row)
        model.updated_at = utcnow()
    else:
        try:
            target = version_row(session, model, undone.from_version)
        except NotFound:
            raise Conflict(
                f"cannot roll alias {alias!r} of model {name!r} back to version "
                f"{undone.from_version}: that version was deleted; set the alias with set_alias",
            ) from None
        _point(session, model, alias, target)
    return record_event(
        session,
        model,
        alias,
        AliasAction.ROLLBACK,
        current.version if current is not None else None,
        undone.from_version,
        actor=actor,
        note=text,
    )


def alias_history(
    session: Session, project: str, name: str, alias: str | None = None
) -> list[AliasEvent]:
    """Events of one alias (or of every alias of the model), newest first.

    ``NotFound`` for an alias that has never been set.
    """
    model = model_row(session, project, name)
    if alias is not None:
        alias = check_alias(alias)
    events = _events(session, model, alias)
    if alias is not None and not events:
        raise NotFound(f"registered model {name!r} has no alias {alias!r} (it was never set)")
    return [_event(model.name, row) for row in reversed(events)]


def recent_alias_events(session: Session, project: str, *, limit: int = 20) -> list[AliasEvent]:
    """The project's latest alias moves across every model, newest first (for activity feeds)."""
    rows = session.execute(
        select(AliasEventRow, RegisteredModelRow.name)
        .join(RegisteredModelRow, RegisteredModelRow.id == AliasEventRow.model_id)
        .where(RegisteredModelRow.project_id == project_id(session, project))
        .order_by(AliasEventRow.id.desc())
        .limit(max(1, min(limit, 1000)))
    ).all()
    return [_event(name, row) for row, name in rows]


def rollback_targets(session: Session, project: str, name: str) -> dict[str, int | None]:
    """Where :func:`rollback_alias` would send each alias of the model now.

    Only aliases with a move still on their undo stack appear; the value is the
    version they would return to (None: the rollback would remove the alias).
    Lets a page offer rollback only where it can work, and say where it leads.
    """
    model = model_row(session, project, name)
    by_alias: dict[str, list[AliasEventRow]] = {}
    for row in _events(session, model, None):
        by_alias.setdefault(row.alias, []).append(row)
    targets: dict[str, int | None] = {}
    for alias, events in sorted(by_alias.items()):
        stack = _undo_stack(events)
        if stack:
            targets[alias] = stack[-1].from_version
    return targets
