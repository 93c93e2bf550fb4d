"""``kiln deployments label`` and ``export`` through the real console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiln.config import Settings
from kiln.context import Context
from kiln.data import _service as data_service
from kiln.serving._prediction_log import PredictionLog, PredictionRecord

KILN = shutil.which("kiln", path=os.path.dirname(sys.executable))
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def kiln(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert KILN is not None, "the kiln console script is not installed next to python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env.update(KILN_HOME=str(home), COLUMNS="200", NO_COLOR="1")
    return subprocess.run(
        [KILN, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A Kiln home whose log holds r1 (one row), r2 (two rows) and r3 of deployment fraud."""
    home = tmp_path / "home"
    context = Context(Settings(home=home))
    log = PredictionLog(context, project="default")
    for number, amounts in ((1, [10.0]), (2, [20.0, 21.0]), (3, [30.0])):
        log.record(
            PredictionRecord(
                request_id=f"r{number}",
                deployment="fraud",
                model="fraud",
                version=1,
                route="primary",
                inputs={"amount": amounts},
                outputs={"score": [0.5] * len(amounts)},
                n_rows=len(amounts),
                latency_ms=2.0,
                time=T0 + timedelta(minutes=number),
            )
        )
    log.close()
    context.close()
    return home


def test_labels_from_csv_and_json_then_export_as_a_dataset(home: Path, tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text('request_id,label\nr1,1\nr2,"[0, 1]"\nr9,0\n')
    first = kiln(home, "deployments", "label", "fraud", "--file", "labels.csv", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "3 labels of fraud: 3 new, 0 replaced" in first.stdout
    (tmp_path / "more.json").write_text(json.dumps({"r1": 0, "r3": 1}))
    second = kiln(home, "deployments", "label", "fraud", "-f", "more.json", "--json", cwd=tmp_path)
    assert json.loads(second.stdout) == {"added": 1, "replaced": 1}

    done = kiln(
        home,
        "deployments",
        "export",
        "fraud",
        "--since",
        "2026-03-01T12:00",
        "--until",
        "2026-03-01T12:03:00+00:00",
        "--dataset",
        "retrain",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["dataset"] == "retrain@1"
    assert (summary["requests"], summary["labeled"], summary["rows"]) == (2, 2, 3)

    context = Context(Settings(home=home))
    try:
        table = data_service.load(context.db, context.artifacts, "default", "retrain@1")
    finally:
        context.close()
    assert table.to_pydict() == {"amount": [10.0, 20.0, 21.0], "label": [0, 0, 1]}

    text = kiln(home, "deployments", "export", "fraud", "--since", "2026-03-01", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "fraud-labeled@1" in text.stdout
    assert "4 rows from 3 labeled requests" in text.stdout


def test_bad_input_exits_with_its_code_and_no_traceback(home: Path, tmp_path: Path) -> None:
    missing = kiln(home, "deployments", "label", "fraud", "--file", "nope.csv", cwd=tmp_path)
    assert missing.returncode == 3
    assert "does not exist" in missing.stderr
    (tmp_path / "bad.csv").write_text("id,label\nr1,1\n")
    header = kiln(home, "deployments", "label", "fraud", "--file", "bad.csv", cwd=tmp_path)
    assert header.returncode == 6
    assert "request_id,label" in header.stderr
    (tmp_path / "bad.json").write_text('{"r1": {"nested": true}}')
    nested = kiln(home, "deployments", "label", "fraud", "--file", "bad.json", cwd=tmp_path)
    assert nested.returncode == 6
    assert "a label is text, a number or true/false" in nested.stderr
    when = kiln(home, "deployments", "export", "fraud", "--since", "yesterday", cwd=tmp_path)
    assert when.returncode == 6
    assert "not an ISO 8601 time" in when.stderr
    unlabeled = kiln(home, "deployments", "export", "fraud", "--since", "2026-03-01", cwd=tmp_path)
    assert unlabeled.returncode == 3
    assert "no labeled predictions" in unlabeled.stderr
    for result in (missing, header, nested, when, unlabeled):
        assert "Traceback" not in result.stderr
