"""``kiln.serving._build.build``: the Dockerfile, the lock file and the copied model, by content.

No container engine runs here: the files are read back and checked line by
line, and the copied model is loaded from the build context.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from kiln import registry
from kiln._version import __version__
from kiln.context import Context, using_context
from kiln.errors import AlreadyExists, Conflict, InvalidInput, NotFound, PermissionDenied
from kiln.models import load_model, read_manifest, save_model
from kiln.models._requirements import installed_version
from kiln.serving._build import BuildResult, build
from tests.serving._models import FEATURES, save_classifier, save_scorer, training_frame

PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!_-]+$")


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    folder, model, _ = save_classifier(tmp_path_factory.mktemp("build") / "hgb")
    return folder, model


@pytest.fixture
def store(make_context: Callable[..., Context], classifier: tuple[Path, Any]) -> Iterator[Context]:
    """A store where ``fraud`` version 1 (alias ``champion``) is the classifier."""
    context = make_context()
    with using_context(context):
        registry.register_model(str(classifier[0]), "fraud")
        registry.set_alias("fraud", "champion", 1)
        yield context


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword, rest.strip()))
    return found


def copy_of(folder: Path, where: Path) -> Path:
    shutil.copytree(folder, where)
    return where


def edit_manifest(folder: Path, **changes: Any) -> None:
    path = folder / "kiln-model.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_registered_version_gets_a_dockerfile_a_lock_and_its_verified_files(
    store: Context, classifier: tuple[Path, Any], tmp_path: Path
) -> None:
    folder, model = classifier
    manifest = read_manifest(folder)
    out = tmp_path / "image"

    result = build("models:/fraud@champion", out)

    assert isinstance(result, BuildResult)
    assert sorted(p.name for p in out.iterdir()) == [
        ".dockerignore",
        "Dockerfile",
        "model",
        "requirements.lock",
    ]
    assert (result.model_uri, result.model_version) == ("models:/fraud@champion", "models:/fraud/1")
    assert (result.tag, result.base_image) == ("kiln-fraud:1", "python:3.11-slim")
    assert result.pinned_here == ()

    steps = instructions((out / "Dockerfile").read_text())
    assert [keyword for keyword, _ in steps] == [
        "FROM", "LABEL", "ENV", "COPY", "RUN", "COPY", "RUN", "USER", "WORKDIR", "ENV",
        "EXPOSE", "HEALTHCHECK", "CMD",
    ]  # fmt: skip
    arguments = dict(steps[:2])
    assert arguments["FROM"] == "python:3.11-slim"
    digest = registry.get_model_version("fraud", 1).manifest_sha256
    assert f'ai.kiln.model.manifest-sha256="{digest}"' in arguments["LABEL"]
    assert 'ai.kiln.model.uri="models:/fraud/1"' in arguments["LABEL"]
    assert steps[3] == ("COPY", "requirements.lock /tmp/requirements.lock")
    assert steps[4][1].startswith("python -m pip install --no-cache-dir --requirement ")
    assert steps[5] == ("COPY", "model/ /model/")
    assert steps[6][1].startswith("useradd --create-home --uid 10001 ")
    assert steps[7] == ("USER", "kiln")
    assert steps[10] == ("EXPOSE", "8080")
    options, _, check = steps[11][1].partition(" CMD ")
    options = options.strip()
    assert options == "--interval=30s --timeout=5s --start-period=60s --retries=3"
    probe = json.loads(check)
    assert probe[:2] == ["python", "-c"]
    assert "http://127.0.0.1:8080/v2/health/ready" in probe[2]
    command = json.loads(steps[12][1])
    assert command[:2] == ["kiln", "serve"]
    assert command[2].endswith("=/model")  # the registered name, kept in the URLs
    assert command[3:] == ["--host", "0.0.0.0", "--port", "8080"]

    lock = (out / "requirements.lock").read_text().splitlines()
    pins = [line for line in lock if line and not line.startswith("#")]
    assert all(PIN.match(line) for line in pins), pins
    assert sorted(pins) == sorted([*manifest.requirements, f"kiln-ml=={__version__}"])
    assert lock[lock.index(f"kiln-ml=={__version__}") - 1].startswith("# the Kiln that wrote")
    assert result.requirements == tuple(pins)

    assert (out / ".dockerignore").read_text().splitlines()[1:] == [
        "*",
        "!Dockerfile",
        "!requirements.lock",
        "!model",
        "!model/**",
    ]
    copied = out / "model"
    assert sorted(p.name for p in copied.iterdir()) == sorted(
        [*(entry.path for entry in manifest.files), "kiln-model.yaml"]
    )
    assert result.model_files == len(manifest.files) + 1
    frame, _ = training_frame(50, seed=9)
    np.testing.assert_array_equal(load_model(copied).predict(frame), model.predict(frame[FEATURES]))


def test_the_python_of_the_manifest_picks_the_base_image(
    classifier: tuple[Path, Any], tmp_path: Path
) -> None:
    folder = copy_of(classifier[0], tmp_path / "m")
    edit_manifest(folder, python_version="3.12.4")
    result = build(folder, tmp_path / "out")
    dockerfile = (tmp_path / "out" / "Dockerfile").read_text()
    assert result.base_image == "python:3.12-slim"
    assert "\nFROM python:3.12-slim\n" in dockerfile
    assert "# The model was saved with Python 3.12.4." in dockerfile
    assert f'ai.kiln.model.uri="{folder.resolve()}"' in dockerfile
    assert result.tag == "kiln-m:latest"
    edit_manifest(folder, python_version="three")
    with pytest.raises(InvalidInput, match="'three'"):
        build(folder, tmp_path / "other")


def test_loose_requirements_are_refused_or_pinned_to_what_is_installed(
    tmp_path: Path,
) -> None:
    from sklearn.linear_model import LogisticRegression

    frame, labels = training_frame(200)
    model = LogisticRegression().fit(frame, labels)
    folder = save_model(model, tmp_path / "loose", requirements=["numpy>=1.20", "pyarrow"])
    assert "numpy>=1.20" in folder.manifest.requirements

    with pytest.raises(InvalidInput, match=r"'numpy>=1\.20' are not exact pins") as error:
        build(folder.path, tmp_path / "refused")
    assert error.value.field == "requirements"
    assert not (tmp_path / "refused").exists()

    result = build(folder.path, tmp_path / "pinned", pin_installed=True)
    lock = (tmp_path / "pinned" / "requirements.lock").read_text().splitlines()
    numpy_pin = f"numpy=={installed_version('numpy')}"
    assert result.pinned_here == (numpy_pin,)
    assert lock[lock.index(numpy_pin) - 1] == (
        "# pinned to the numpy installed where kiln build ran; kiln-model.yaml asks for "
        "'numpy>=1.20'"
    )
    assert f"pyarrow=={installed_version('pyarrow')}" in lock  # pinned when it was saved

    edit_manifest(folder.path, requirements=["numpy<1"])
    with pytest.raises(InvalidInput, match="does not satisfy"):
        build(folder.path, tmp_path / "unsatisfied", pin_installed=True)
    edit_manifest(folder.path, requirements=["numpy==2.0; python_version < '3'"])
    with pytest.raises(InvalidInput, match="markers and URLs"):
        build(folder.path, tmp_path / "marker", pin_installed=True)


def test_a_changed_or_extra_model_file_is_refused_and_nothing_is_left(
    classifier: tuple[Path, Any], tmp_path: Path
) -> None:
    changed = copy_of(classifier[0], tmp_path / "changed")
    with (changed / "model.skops").open("ab") as file:
        file.write(b"!")
    with pytest.raises(Conflict, match=r"'model\.skops' does not match the sha256") as error:
        build(changed, tmp_path / "out")
    assert error.value.field == "model.skops"

    extra = copy_of(classifier[0], tmp_path / "extra")
    (extra / "notes.txt").write_text("hello")
    with pytest.raises(Conflict, match=r"'notes\.txt', which its manifest does not list"):
        build(extra, tmp_path / "out")

    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_pickled_model_needs_the_opt_in_and_is_served_with_it(tmp_path: Path) -> None:
    folder = save_scorer(tmp_path / "scorer")
    with pytest.raises(PermissionDenied, match="allow_pickle"):
        build(folder, tmp_path / "out")
    build(folder, tmp_path / "out", allow_pickle=True)
    command = instructions((tmp_path / "out" / "Dockerfile").read_text())[-1]
    assert json.loads(command[1])[-1] == "--allow-pickle"


def test_the_output_folder_must_be_empty_unless_replaced(
    classifier: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = classifier[0]
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("")
    with pytest.raises(AlreadyExists, match="not empty"):
        build(folder, tmp_path / "out")
    build(folder, tmp_path / "out", overwrite=True)
    assert not (tmp_path / "out" / "old.txt").exists()
    assert (tmp_path / "out" / "Dockerfile").is_file()
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidInput, match="is a file"):
        build(folder, tmp_path / "file")

    monkeypatch.chdir(tmp_path)
    default = build(folder)
    assert default.output == Path("build") / "hgb-latest"
    assert (tmp_path / "build" / "hgb-latest" / "Dockerfile").is_file()


def test_unknown_models_are_not_found(store: Context, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="nobody"):
        build("models:/nobody/1", tmp_path / "out")
    with pytest.raises(NotFound, match="no model folder"):
        build(tmp_path / "missing", tmp_path / "out")
    assert not (tmp_path / "out").exists()
