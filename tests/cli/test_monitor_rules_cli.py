"""``kiln monitor rules``: add, list, check (raise once per window), disable, delete."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_features_cli import kiln
from tests.cli.test_monitor_cli import _frame, register


def test_a_rule_fires_once_on_a_drifted_version(tmp_path: Path) -> None:
    home = tmp_path / "home"

    def ok(*args: str) -> str:
        done = kiln(home, *args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    register(home, _frame(2_000, 0))
    ok("monitor", "profile", "claims-ref", "--from", "claims@1")
    register(home, _frame(1_000, 1, shift=8.0))
    ok("monitor", "create", "claims-watch", "--dataset", "claims", "--profile", "claims-ref")

    added = ok(
        "monitor", "rules", "add", "claims-watch", "drift", "--when", "drift.share >= 0.5",
        "--severity", "critical",
    )  # fmt: skip
    assert "alert (critical) when drift.share >= 0.5" in added
    (rule,) = json.loads(ok("monitor", "rules", "list", "claims-watch", "--json"))
    assert (rule["metric"], rule["operator"], rule["threshold"]) == ("drift.share", ">=", 0.5)
    assert rule["sinks"] == [{"kind": "log"}]

    first = json.loads(ok("monitor", "rules", "check", "claims-watch", "--json"))
    assert first["windows"] == 1
    assert len(first["alerts"]) == 1
    alerts = json.loads(ok("alerts", "list", "--json"))
    assert [a["kind"] for a in alerts] == ["monitor"]
    assert "drift.share" in alerts[0]["title"]
    again = json.loads(ok("monitor", "rules", "check", "claims-watch", "--json"))
    assert again["alerts"] == []  # the version's window fired its rule already

    assert "disabled" in ok("monitor", "rules", "disable", "claims-watch", "drift")
    (rule,) = json.loads(ok("monitor", "rules", "list", "claims-watch", "--json"))
    assert rule["enabled"] is False
    ok("monitor", "rules", "delete", "claims-watch", "drift")
    assert json.loads(ok("monitor", "rules", "list", "claims-watch", "--json")) == []


def test_bad_rules_exit_with_their_code_naming_the_field(tmp_path: Path) -> None:
    home = tmp_path / "home"
    bad = kiln(home, "monitor", "rules", "add", "m", "r", "--when", "drift.share >>", cwd=tmp_path)
    assert bad.returncode == 6
    assert "condition" in bad.stderr
    params = kiln(
        home, "monitor", "rules", "add", "m", "r", "--when", "drift.share > 1", "--params", "[",
        cwd=tmp_path,
    )  # fmt: skip
    assert params.returncode == 6
    assert "--params is not JSON" in params.stderr
    missing = kiln(home, "monitor", "rules", "list", "nope", cwd=tmp_path)
    assert missing.returncode == 3
    assert "Traceback" not in missing.stderr
