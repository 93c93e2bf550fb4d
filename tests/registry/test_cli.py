"""``kiln models`` as a real process over a temporary Kiln home (records seeded in-process)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kiln.db import Database
from kiln.registry import _versions
from tests.cli.test_cli import Result, as_json, assert_error, make_runner
from tests.registry.conftest import PROJECT, _seed_run

GATE = (
    '{"name": "auc-floor", "type": "metric_threshold", "metric": "auc", "op": ">=", "value": 0.8}'
)


def _seed(home: Path) -> list[str]:
    """Model ``fraud``: version 1 (auc 0.9) and version 2 (auc 0.7), and a third run."""
    database = Database(f"sqlite:///{home / 'kiln.db'}")
    try:
        runs = []
        for index, auc in enumerate((0.9, 0.7, 0.95)):
            run_id = database.run(_seed_run, {"auc": auc}, "model", f"{index}" * 64, "sklearn")
            runs.append(run_id)
            if index < 2:
                database.run(
                    _versions.create_model_version,
                    PROJECT,
                    "fraud",
                    f"runs:/{run_id}/model",
                    create_model=True,
                )
        return runs
    finally:
        database.dispose()


def test_models_commands(tmp_path: Path) -> None:
    home = tmp_path / "kiln-home"
    runs = _seed(home)
    run = make_runner(home)

    registered: Result = run("models", "register", f"runs:/{runs[2]}/model", "fraud", "--json")
    assert as_json(registered)["version"] == 3
    assert (
        "auc-floor (metric_threshold)"
        in run("models", "gate", "set", "fraud", "champion", "--check", GATE).stdout
    )
    moved = run("models", "alias", "set", "fraud", "champion", "1", "--note", "first")
    assert "alias champion of fraud moved: - → 1" in moved.stdout
    assert "pass auc-floor: auc = 0.9 meets >= 0.8" in moved.stdout
    with ThreadPoolExecutor(2) as pool:
        checked = pool.submit(run, "models", "gate", "check", "fraud", "champion", "2", code=5)
        refused = pool.submit(run, "models", "alias", "set", "fraud", "champion", "2", code=5)
    assert "FAIL auc-floor: auc = 0.7 does not meet >= 0.8" in checked.result().stdout
    assert_error(refused.result(), "auc-floor", "force=True")
    forced = run("models", "alias", "set", "fraud", "champion", "2", "--force", "--json")
    assert json.loads(forced.stdout)["forced"] is True
    assert "rolled back: 2 → 1" in run("models", "alias", "rollback", "fraud", "champion").stdout

    with ThreadPoolExecutor(4) as pool:
        listed = pool.submit(run, "models", "list", "--json")
        versions = pool.submit(run, "models", "versions", "fraud", "--json")
        history = pool.submit(run, "models", "alias", "history", "fraud", "champion", "--json")
        shown = pool.submit(run, "models", "show", "fraud")
    assert [(m["name"], m["latest_version"]) for m in as_json(listed.result())] == [("fraud", 3)]
    assert [v["version"] for v in as_json(versions.result())] == [3, 2, 1]
    assert [
        (e["action"], e["from_version"], e["to_version"]) for e in as_json(history.result())
    ] == [("rollback", 2, 1), ("set", 1, 2), ("set", None, 1)]
    assert "alias champion → version 1" in shown.result().stdout


def test_models_errors_exit_with_their_codes(tmp_path: Path) -> None:
    home = tmp_path / "kiln-home"
    _seed(home)
    run = make_runner(home)
    calls = [
        (("models", "show", "nope"), 3, "registered model 'nope' does not exist"),
        (("models", "alias", "set", "fraud", "latest", "1"), 6, "reserved"),
        (("models", "gate", "set", "fraud", "a", "--check", "{oops"), 6, "--check 1 is not JSON"),
        (("models", "alias", "history", "fraud", "ghost"), 3, "never set"),
    ]
    with ThreadPoolExecutor(len(calls)) as pool:
        results = [pool.submit(run, *args, code=code) for args, code, _ in calls]
    for result, (_, _, fragment) in zip(results, calls, strict=True):
        assert_error(result.result(), fragment)
