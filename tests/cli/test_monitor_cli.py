"""``kiln monitor``: profile, create, run, show, report and delete, through the console script."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tests.cli.test_features_cli import kiln


def _frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.normal(100 + shift, 10, rows),
            "city": rng.choice(["paris", "lyon"], rows),
        }
    )


def register(home: Path, frame: pd.DataFrame) -> None:
    """A version of dataset ``claims`` in the store the CLI opens (there is no CLI verb)."""
    from kiln.config import Settings
    from kiln.context import Context
    from kiln.data import _service

    context = Context(Settings(home=home))
    try:
        _service.register(context.db, context.artifacts, context.settings.project, frame, "claims")
    finally:
        context.close()


def test_a_dataset_monitor_from_the_command_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _frame(2_000, 0).to_parquet(tmp_path / "reference.parquet")
    _frame(1_000, 1, shift=8.0).to_parquet(tmp_path / "current.parquet")

    def ok(*args: str) -> str:
        done = kiln(home, *args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    register(home, _frame(2_000, 0))
    made = ok("monitor", "profile", "claims-ref", "--from", "claims@1")
    assert "profile claims-ref@1: 2,000 rows, 2 columns" in made
    register(home, _frame(1_000, 1, shift=8.0))
    ok("monitor", "create", "claims-watch", "--dataset", "claims", "--profile", "claims-ref")

    evaluated = json.loads(ok("monitor", "run", "claims-watch", "--json"))
    assert evaluated[0]["metrics"]["drift.amount.drift"] == 1.0
    assert evaluated[0]["metrics"]["drift.city.drift"] == 0.0
    shown = json.loads(ok("monitor", "show", "claims-watch", "--json"))
    assert shown["spec"]["profile"] == "claims-ref@1"
    assert len(shown["results"]) == 1

    written = ok("monitor", "report", "claims-watch", "--out", "reports")
    html = tmp_path / "reports" / "claims-watch.html"
    assert f"report: {Path('reports') / 'claims-watch.html'}" in written
    assert "amount" in html.read_text(encoding="utf-8")
    document = json.loads((tmp_path / "reports" / "claims-watch.json").read_text())
    assert document["windows"][0]["drift"]["columns"]["amount"]["drift"] is True

    pair = ok(
        "monitor", "report", "--reference", "reference.parquet", "--current", "current.parquet",
        "--out", "pair",
    )  # fmt: skip
    assert "drift-report.html" in pair
    assert (tmp_path / "pair" / "drift-report.json").exists()

    ok("monitor", "delete", "claims-watch")
    assert json.loads(ok("monitor", "list", "--json")) == []


def test_bad_input_exits_with_its_code_and_says_what_to_do(tmp_path: Path) -> None:
    home = tmp_path / "home"
    missing = kiln(home, "monitor", "run", "nope", cwd=tmp_path)
    assert missing.returncode == 3
    assert "kiln monitor list" in missing.stderr
    both = kiln(home, "monitor", "create", "m", "--profile", "p", cwd=tmp_path)
    assert both.returncode == 6
    assert "--deployment or --dataset" in both.stderr
    window = kiln(
        home, "monitor", "create", "m", "--dataset", "d", "--profile", "p", "--window", "soon",
        cwd=tmp_path,
    )  # fmt: skip
    assert window.returncode == 6
    assert "Traceback" not in window.stderr
    no_file = kiln(home, "monitor", "profile", "p", "--from", "nothing.parquet", cwd=tmp_path)
    assert no_file.returncode == 6
    assert "does not exist" in no_file.stderr
