"""``kiln build`` through the real console script (the files only: no container engine runs)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kiln import registry
from kiln.context import Context, using_context
from kiln.models import save_model
from tests.cli.test_predict_cli import kiln
from tests.serving._models import save_classifier, training_frame


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder, _, _ = save_classifier(tmp_path_factory.mktemp("cli-build") / "hgb")
    return folder


def test_build_writes_the_context_of_a_registered_version(
    classifier: Path, make_context: Callable[..., Context], tmp_path: Path
) -> None:
    store = make_context()
    with using_context(store):
        registry.register_model(str(classifier), "fraud")
        registry.set_alias("fraud", "champion", 1)
    store.close()
    home = store.settings.home

    done = kiln(home, "build", "models:/fraud@champion", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "build" / "fraud-1"
    assert f"wrote {Path('build') / 'fraud-1'}: Dockerfile (python:3.11-slim)" in done.stdout
    assert "next: docker build -t kiln-fraud:1 build/fraud-1" in done.stdout
    dockerfile = (out / "Dockerfile").read_text()
    assert dockerfile.rstrip().endswith(
        'CMD ["kiln", "serve", "fraud=/model", "--host", "0.0.0.0", "--port", "8080"]'
    )
    assert (out / "model" / "kiln-model.yaml").is_file()

    again = kiln(home, "build", "models:/fraud/1", "-o", str(out), "--json", cwd=tmp_path)
    assert again.returncode == 4
    assert "not empty" in again.stderr
    replaced = kiln(
        home, "build", "models:/fraud/1", "-o", str(out), "--overwrite", "--json", cwd=tmp_path
    )
    assert replaced.returncode == 0, replaced.stderr
    result = json.loads(replaced.stdout)
    assert (result["model_version"], result["tag"]) == ("models:/fraud/1", "kiln-fraud:1")
    assert result["requirements_file"] == str(out / "requirements.lock")


def test_build_errors_exit_with_their_codes(classifier: Path, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    home = tmp_path / "home"
    frame, labels = training_frame(100)
    loose = save_model(
        LogisticRegression().fit(frame, labels), tmp_path / "loose", requirements=["numpy>=1"]
    )

    unknown = kiln(home, "build", "models:/nobody/1", "-o", "out", cwd=tmp_path)
    assert unknown.returncode == 3
    assert "nobody" in unknown.stderr
    refused = kiln(home, "build", str(loose.path), "-o", "out", cwd=tmp_path)
    assert refused.returncode == 6
    assert "'numpy>=1' are not exact pins" in refused.stderr
    assert "--pin-installed" in refused.stderr
    pinned = kiln(home, "build", str(loose.path), "-o", "out", "--pin-installed", cwd=tmp_path)
    assert pinned.returncode == 0, pinned.stderr
    assert "pinned to the installed version: numpy==" in pinned.stdout
    for done in (unknown, refused):
        assert "Traceback" not in done.stderr
