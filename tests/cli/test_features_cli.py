"""``kiln features apply`` and ``list`` through the real console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.features.test_loading import DEFINITIONS

KILN = shutil.which("kiln", path=os.path.dirname(sys.executable))


def kiln(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert KILN is not None, "the kiln console script is not installed next to python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env.update(KILN_HOME=str(home), COLUMNS="200", NO_COLOR="1")
    return subprocess.run(
        [KILN, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_apply_prints_the_diff_and_list_shows_the_latest(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "defs.py").write_text(DEFINITIONS)

    first = kiln(home, "features", "apply", "defs.py", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "+ feature_view customer_stats (v1) added" in first.stdout
    assert "5 added, 0 changed, 0 removed, 0 unchanged" in first.stdout

    (tmp_path / "defs.py").write_text(DEFINITIONS.replace("hours=36", "hours=12"))
    second = kiln(home, "features", "apply", "defs.py", "--json", cwd=tmp_path)
    assert json.loads(second.stdout)["changed"] == [
        {"kind": "feature_view", "name": "customer_stats", "version": 2}
    ]
    listed = json.loads(kiln(home, "features", "list", "--json", cwd=tmp_path).stdout)
    assert [(row["kind"], row["name"]) for row in listed] == [
        ("entity", "customer"),
        ("entity", "merchant"),
        ("feature_view", "customer_stats"),
        ("feature_view", "recent"),
        ("feature_service", "fraud"),
    ]


def test_bad_paths_and_definitions_exit_with_their_codes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    missing = kiln(home, "features", "apply", "nope.py", cwd=tmp_path)
    assert missing.returncode == 3
    assert "does not exist" in missing.stderr
    (tmp_path / "bad.py").write_text(DEFINITIONS.replace('"float64")', '"decimal")', 1))
    bad = kiln(home, "features", "apply", "bad.py", cwd=tmp_path)
    assert bad.returncode == 6
    assert "unknown type 'decimal'" in bad.stderr
    assert "Traceback" not in bad.stderr
