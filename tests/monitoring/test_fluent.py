"""The SDK verbs of ``kiln.monitoring`` on the current context, end to end on a dataset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import kiln
import kiln.monitoring as mon
from kiln.auth import ensure_project
from kiln.errors import InvalidInput
from kiln.tracking import _fluent
from tests.monitoring.test_monitors import reference, shifted


@pytest.fixture
def store(tmp_path: Path, sqlite_url: str) -> Iterator[kiln.Context]:
    context = kiln.configure(home=tmp_path / "home", database_url=sqlite_url)
    context.db.run(ensure_project, context.settings.project)
    try:
        yield context
    finally:
        _fluent._reset_for_tests()
        kiln.configure(home=tmp_path / "after")
        kiln.get_context().close()


def test_profile_monitor_rule_check_and_report(store: kiln.Context, tmp_path: Path) -> None:
    kiln.data.register_dataset(reference(), "claims")
    stored = mon.profile_reference("claims-ref", "claims@1")
    assert stored.ref == "claims-ref@1"
    kiln.data.register_dataset(shifted(reference(seed=3)), "claims")
    monitor = mon.create_monitor("claims-watch", dataset="claims", profile="claims-ref")
    assert [m.name for m in mon.list_monitors()] == [monitor.name]
    rule = mon.add_rule("claims-watch", "drift", "drift.share > 0.2", severity="critical")
    assert rule.condition == "drift.share > 0.2"

    results, alerts = mon.check_monitor("claims-watch")
    assert results[0].metrics["drift.amount.drift"] == 1.0
    assert [a.severity for a in alerts] == ["critical"]
    assert mon.check_monitor("claims-watch")[1] == []  # once per window
    assert len(mon.list_results("claims-watch")) == 1

    files = mon.report("claims-watch", tmp_path / "out")
    assert files.html.name == "claims-watch.html"
    assert "drift.share" in files.html.read_text(encoding="utf-8")


def test_a_monitor_watches_one_target(store: kiln.Context) -> None:
    with pytest.raises(InvalidInput) as caught:
        mon.create_monitor("m", profile="p")
    assert caught.value.field == "deployment"
