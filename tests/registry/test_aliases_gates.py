"""Aliases, their events, rollback and gates through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kiln.db import Database, utcnow
from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.registry import AliasAction, CheckResult, _aliases, _gates, _models, _versions
from tests.registry.conftest import PROJECT, MakeRun


def _versions_with_auc(db: Database, make_run: MakeRun, *aucs: float | None) -> list[str]:
    """Model ``fraud`` with one version per value (None: a run without the metric)."""
    runs = []
    for auc in aucs:
        run_id = make_run({} if auc is None else {"auc": auc})
        db.run(
            _versions.create_model_version,
            PROJECT,
            "fraud",
            f"runs:/{run_id}/model",
            create_model=True,
        )
        runs.append(run_id)
    return runs


def test_alias_moves_are_events_with_who_when_from_to(db: Database, make_run: MakeRun) -> None:
    _versions_with_auc(db, make_run, 0.8, 0.9)
    before = utcnow()
    first = db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 1, actor="ada", note="go")
    second = db.run(_aliases.set_alias, PROJECT, "fraud", "champion", "2", actor="bob")
    assert (first.action, first.from_version, first.to_version, first.actor, first.note) == (
        AliasAction.SET,
        None,
        1,
        "ada",
        "go",
    )
    assert (second.from_version, second.to_version, second.actor) == (1, 2, "bob")
    assert before - timedelta(seconds=1) <= first.at <= second.at <= utcnow()
    assert second.results == ()
    assert second.passed
    assert not second.forced

    holder = db.read(_aliases.get_version_by_alias, PROJECT, "fraud", "champion")
    assert (holder.version, holder.aliases) == (2, ("champion",))
    assert db.read(_models.get_registered_model, PROJECT, "fraud").aliases == {"champion": 2}
    assert db.read(_aliases.alias_history, PROJECT, "fraud", "champion") == [second, first]

    # The same version again changes nothing and records nothing.
    assert db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 2, actor="eve") == second
    db.run(_aliases.set_alias, PROJECT, "fraud", "challenger", 1, actor="eve")
    assert len(db.read(_aliases.alias_history, PROJECT, "fraud")) == 3

    removed = db.run(_aliases.delete_alias, PROJECT, "fraud", "champion", actor="ada")
    assert (removed.action, removed.from_version, removed.to_version) == (
        AliasAction.DELETE,
        2,
        None,
    )
    with pytest.raises(NotFound, match="no alias 'champion'"):
        db.read(_aliases.get_version_by_alias, PROJECT, "fraud", "champion")
    with pytest.raises(NotFound, match="no alias 'champion'"):
        db.run(_aliases.delete_alias, PROJECT, "fraud", "champion")


def test_unknown_model_version_and_alias_are_not_found(db: Database, make_run: MakeRun) -> None:
    _versions_with_auc(db, make_run, 0.8)
    with pytest.raises(NotFound, match="registered model 'nope'"):
        db.run(_aliases.set_alias, PROJECT, "nope", "champion", 1)
    with pytest.raises(NotFound, match="no version 7"):
        db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 7)
    with pytest.raises(NotFound, match="no alias 'ghost'"):
        db.read(_aliases.get_version_by_alias, PROJECT, "fraud", "ghost")
    with pytest.raises(NotFound, match="never set"):
        db.read(_aliases.alias_history, PROJECT, "fraud", "ghost")
    with pytest.raises(NotFound, match="no history"):
        db.run(_aliases.rollback_alias, PROJECT, "fraud", "ghost")
    with pytest.raises(NotFound, match="has no gate"):
        db.run(_gates.delete_gate, PROJECT, "fraud", "ghost")


@pytest.mark.parametrize(
    ("alias", "fragment"),
    [("latest", "reserved"), ("V3", "reserved"), ("-x", "may contain only"), ("a b", "only")],
)
def test_bad_aliases_are_refused_naming_the_field(alias: str, fragment: str) -> None:
    from kiln.registry._names import check_alias

    with pytest.raises(InvalidInput, match=fragment) as refused:
        check_alias(alias)
    assert refused.value.field == "alias"


def test_rollback_undoes_moves_newest_first(db: Database, make_run: MakeRun) -> None:
    _versions_with_auc(db, make_run, 0.7, 0.8, 0.9)
    for version in (1, 2, 3):
        db.run(_aliases.set_alias, PROJECT, "fraud", "champion", version, actor="ada")

    back = db.run(_aliases.rollback_alias, PROJECT, "fraud", "champion", actor="ops", note="bad")
    assert (back.action, back.from_version, back.to_version, back.actor) == (
        AliasAction.ROLLBACK,
        3,
        2,
        "ops",
    )
    assert back.note.startswith("rolls back event ")
    assert back.note.endswith(": bad")
    assert db.read(_aliases.get_version_by_alias, PROJECT, "fraud", "champion").version == 2
    # A second rollback goes further back (an undo stack), not forth to 3 again.
    assert db.run(_aliases.rollback_alias, PROJECT, "fraud", "champion").to_version == 1
    first = db.run(_aliases.rollback_alias, PROJECT, "fraud", "champion")
    assert (first.from_version, first.to_version) == (1, None)
    with pytest.raises(NotFound):
        db.read(_aliases.get_version_by_alias, PROJECT, "fraud", "champion")
    with pytest.raises(Conflict, match="rolled back already"):
        db.run(_aliases.rollback_alias, PROJECT, "fraud", "champion")

    # A new move after rollbacks is undone by the next rollback.
    db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 3)
    assert db.run(_aliases.rollback_alias, PROJECT, "fraud", "champion").to_version is None
    actions = [
        e.action.value for e in db.read(_aliases.alias_history, PROJECT, "fraud", "champion")
    ]
    assert actions == ["rollback", "set", "rollback", "rollback", "rollback", "set", "set", "set"]


def test_rollback_of_a_delete_restores_the_alias(db: Database, make_run: MakeRun) -> None:
    _versions_with_auc(db, make_run, 0.7)
    db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 1)
    db.run(_aliases.delete_alias, PROJECT, "fraud", "champion")
    restored = db.run(_aliases.rollback_alias, PROJECT, "fraud", "champion")
    assert (restored.from_version, restored.to_version) == (None, 1)
    assert db.read(_aliases.get_version_by_alias, PROJECT, "fraud", "champion").version == 1


GATE = [
    {"name": "auc-floor", "type": "metric_threshold", "metric": "auc", "op": ">=", "value": 0.8},
    {"type": "beats_current", "metric": "auc", "direction": "max", "min_delta": 0.01},
]


def test_gates_pass_and_fail_with_results_stored(db: Database, make_run: MakeRun) -> None:
    _versions_with_auc(db, make_run, 0.85, 0.7, 0.855, 0.95, None)
    gate = db.run(_gates.set_gate, PROJECT, "fraud", "champion", GATE, actor="ada")
    assert [c.name for c in gate.checks] == ["auc-floor", "beats current on auc"]
    assert gate.updated_by == "ada"
    assert db.read(_gates.get_gate, PROJECT, "fraud", "champion") == gate

    first = db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 1, actor="ada")
    assert [(r.name, r.passed, r.observed, r.evaluated_by) for r in first.results] == [
        ("auc-floor", True, 0.85, "store"),
        ("beats current on auc", True, 0.85, "store"),
    ]
    assert "nothing to beat" in first.results[1].detail

    with pytest.raises(Conflict) as floor:
        db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 2)
    assert "auc-floor (auc = 0.7 does not meet >= 0.8)" in str(floor.value)
    assert "beats current on auc" in str(floor.value)
    assert "stays on version 1" in str(floor.value)
    with pytest.raises(Conflict, match="failed 1 of 2") as delta:
        db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 3)  # 0.855 - 0.85 < 0.01
    assert "0.855 vs 0.85 of version 1" in str(delta.value)
    with pytest.raises(Conflict, match="has no metric 'auc'"):
        db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 5)
    assert db.read(_aliases.get_version_by_alias, PROJECT, "fraud", "champion").version == 1
    assert len(db.read(_aliases.alias_history, PROJECT, "fraud", "champion")) == 1

    better = db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 4, actor="bob")
    assert better.passed
    assert (better.from_version, better.to_version) == (1, 4)
    assert db.read(_aliases.alias_history, PROJECT, "fraud", "champion")[0].results == (
        better.results
    )

    # A dry run says the same without moving anything.
    dry = db.read(_gates.evaluate_gate, PROJECT, "fraud", "champion", 2)
    assert [r.passed for r in dry] == [False, False]

    # Other aliases are not gated; an empty list removes the gate.
    assert db.run(_aliases.set_alias, PROJECT, "fraud", "challenger", 2).results == ()
    assert db.run(_gates.set_gate, PROJECT, "fraud", "champion", []).checks == ()
    assert db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 2).passed


def test_force_moves_past_failed_checks_and_says_so(db: Database, make_run: MakeRun) -> None:
    _versions_with_auc(db, make_run, 0.7)
    db.run(_gates.set_gate, PROJECT, "fraud", "production", GATE[:1])
    forced = db.run(_aliases.set_alias, PROJECT, "fraud", "production", 1, actor="root", force=True)
    assert forced.forced
    assert not forced.passed
    assert forced.results[0].detail == "auc = 0.7 does not meet >= 0.8"
    stored = db.read(_aliases.alias_history, PROJECT, "fraud", "production")[0]
    assert stored.forced
    assert stored.results == forced.results


def test_min_direction_and_callable_results(db: Database, make_run: MakeRun) -> None:
    _versions_with_auc(db, make_run, 0.3, 0.2)
    db.run(
        _gates.set_gate,
        PROJECT,
        "fraud",
        "champion",
        [
            {"name": "lower", "type": "beats_current", "metric": "auc", "direction": "min"},
            {"name": "holdout", "type": "callable", "callable": "m:f", "dataset": "v.parquet"},
        ],
    )
    with pytest.raises(Conflict, match="holdout \\(not evaluated: callable checks run in the SDK"):
        db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 1)
    reported = [CheckResult("holdout", "callable", True, 0.97, "accuracy 0.97", "caller")]
    event = db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 1, reported=reported)
    assert event.results[1] == CheckResult(
        "holdout", "callable", True, 0.97, "accuracy 0.97", "caller"
    )
    lower = db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 2, reported=reported)
    assert lower.results[0].passed  # 0.2 is lower than 0.3
    with pytest.raises(Conflict, match="does not hold as callable checks"):
        db.run(
            _aliases.set_alias,
            PROJECT,
            "fraud",
            "champion",
            1,
            reported=[CheckResult("lower", "beats_current", True)],
        )


@pytest.mark.parametrize(
    ("checks", "field"),
    [
        ([{"type": "metric_threshold", "metric": "auc", "op": "=>", "value": 1}], "checks[0].op"),
        ([{"type": "psychic"}], "checks[0].type"),
        ([{"type": "beats_current", "metric": "auc", "extra": 1}], "checks[0].extra"),
        ([{"type": "beats_current"}], "checks[0].metric"),
        ([{"type": "beats_current", "metric": "a", "direction": "up"}], "checks[0].direction"),
        ([{"type": "beats_current", "metric": "a", "min_delta": -1}], "checks[0].min_delta"),
        ([{"type": "metric_threshold", "metric": "a", "op": ">", "value": "x"}], "checks[0].value"),
        ([{"type": "callable", "callable": "os.system", "dataset": "v.csv"}], "checks[0].callable"),
        ([{"type": "callable", "callable": "m:f", "dataset": "v.txt"}], "checks[0].dataset"),
        ([{"type": "beats_current", "metric": "a"}] * 2, "checks[1].name"),
        ({"type": "beats_current"}, "checks"),
        (["not a check"], "checks[0]"),
    ],
)
def test_bad_checks_are_refused_naming_the_field(checks: object, field: str) -> None:
    from kiln.registry._checks import parse_checks

    with pytest.raises(InvalidInput) as refused:
        parse_checks(checks)  # type: ignore[arg-type]
    assert refused.value.field == field


def test_gates_need_a_known_model_and_a_valid_alias(db: Database) -> None:
    with pytest.raises(NotFound):
        db.run(_gates.set_gate, PROJECT, "nope", "champion", GATE)
    db.run(_models.create_registered_model, PROJECT, "fraud")
    with pytest.raises(InvalidInput) as alias:
        db.run(_gates.set_gate, PROJECT, "fraud", "v1", GATE)
    with pytest.raises(InvalidInput) as moved:
        db.run(_aliases.set_alias, PROJECT, "fraud", "latest", 1)
    assert alias.value.field == moved.value.field == "alias"
    assert db.read(_gates.get_gate, PROJECT, "fraud", "champion").checks == ()
    db.run(_gates.set_gate, PROJECT, "fraud", "champion", GATE)
    assert [g.alias for g in db.read(_gates.list_gates, PROJECT, "fraud")] == ["champion"]
    db.run(_gates.delete_gate, PROJECT, "fraud", "champion")
    assert db.read(_gates.list_gates, PROJECT, "fraud") == []
