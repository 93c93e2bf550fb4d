"""Isolated jobs: pins normalized (and unpinned lines refused), kiln-ml replaced by Kiln's own
dependencies, one environment per set of pins built once and reused, a failed build leaving
nothing half built; and (slow, from PyPI) a job that sees its pinned package and not Kiln's."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from kiln.context import Context
from kiln.errors import InvalidInput, KilnError, NotFound
from kiln.training._job_control import job_logs, submit_job, wait_job
from kiln.training._job_envs import (
    MARKER,
    ensure_environment,
    environment_key,
    install_lines,
    normalize_pins,
    pins_from_run,
)
from kiln.training._jobs import JobStatus
from tests.training._jobs import write

pytestmark = pytest.mark.timeout(300)


def test_pins_are_normalized_so_the_same_pins_name_the_same_environment() -> None:
    text = """
    # training deps
    Six==1.16.0   # inline comment
    --index-url https://example.invalid/simple
    typing_extensions [extra] == 4.12.2 ; python_version >= "3.8"
    """
    pins = normalize_pins(text)
    assert pins == (
        "--index-url https://example.invalid/simple\n"
        "six==1.16.0\n"
        'typing-extensions[extra]==4.12.2 ; python_version >= "3.8"\n'
    )
    shuffled = 'typing-extensions[extra]==4.12.2 ; python_version >= "3.8"\n'
    shuffled += "--index-url https://example.invalid/simple\nsix==1.16.0\n"
    assert environment_key(normalize_pins(shuffled)) == environment_key(pins)
    assert environment_key(normalize_pins("six==1.15.0")) != environment_key(pins)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("six>=1.0", "not pinned"),
        ("six", "not pinned"),
        ("-r other.txt", "not allowed"),
        ("-e .", "not allowed"),
        ("six==1.16.0\nsix==1.15.0", "pinned twice"),
        ("# nothing\n\n", "name no package"),
    ],
)
def test_loose_or_indirect_pins_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as raised:
        normalize_pins(text)
    assert raised.value.field == "requirements"


def test_kiln_ml_is_replaced_by_its_dependencies_at_the_running_versions() -> None:
    from importlib import metadata

    lines = install_lines(normalize_pins("kiln-ml==0.1.0\nsqlalchemy==2.0.0\n"))
    assert not any(line.startswith("kiln-ml") for line in lines)
    assert "sqlalchemy==2.0.0" in lines  # the pins win over the running version
    assert f"pydantic=={metadata.version('pydantic')}" in lines
    assert not any("mypy" in line for line in lines)  # extras are not dependencies


class FakeBuilds:
    """Stands for ``python -m venv`` and pip: makes the folders, counts the builds."""

    def __init__(self, fail: bool = False) -> None:
        self.commands: list[list[str]] = []
        self.fail = fail

    def __call__(self, command: Sequence[str], env: dict[str, str]) -> int:
        self.commands.append(list(command))
        if command[1:3] == ["-m", "venv"]:
            folder = Path(command[3])
            (folder / "bin").mkdir(parents=True)
            (folder / "lib" / "python3" / "site-packages").mkdir(parents=True)
            return 0
        assert "PYTHONPATH" not in env
        return 1 if self.fail else 0


def test_an_environment_is_built_once_and_reused(tmp_path: Path) -> None:
    pins = normalize_pins("six==1.16.0")
    builds = FakeBuilds()
    first = ensure_environment(tmp_path, pins, builds)
    assert not first.reused
    assert (first.folder / MARKER).is_file()
    assert first.folder.name == environment_key(pins)
    assert (first.folder / "requirements.txt").read_text() == "six==1.16.0\n"
    again = ensure_environment(tmp_path, pins, builds)
    assert again.reused
    assert again.python == first.python
    assert len(builds.commands) == 2  # venv and pip, once


def test_concurrent_builds_of_one_environment_build_it_once(tmp_path: Path) -> None:
    pins = normalize_pins("six==1.16.0")
    builds = FakeBuilds()
    found: list[bool] = []
    threads = [
        threading.Thread(
            target=lambda: found.append(ensure_environment(tmp_path, pins, builds).reused)
        )
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(found) == [False, True, True]
    assert len(builds.commands) == 2


def test_a_failed_build_leaves_nothing_to_reuse(tmp_path: Path) -> None:
    pins = normalize_pins("no-such-package-kiln==1.0")
    with pytest.raises(KilnError, match="pip could not install"):
        ensure_environment(tmp_path, pins, FakeBuilds(fail=True))
    assert not (tmp_path / environment_key(pins)).exists()
    half = tmp_path / environment_key(pins)  # a build whose process died: no marker
    (half / "bin").mkdir(parents=True)
    notes: list[str] = []
    built = ensure_environment(tmp_path, pins, FakeBuilds(), note=notes.append)
    assert not built.reused
    assert any("did not finish" in note for note in notes)


def test_pins_from_a_run_without_captured_packages_say_what_to_do(
    make_context: Callable[..., Context],
) -> None:
    from kiln.tracking._experiments import ensure_experiment
    from kiln.tracking._runs import create_run

    context = make_context()

    def run(session):  # type: ignore[no-untyped-def]
        experiment = ensure_experiment(session, "default", "e")
        return create_run(session, "default", experiment.id, name="bare")

    made = context.db.run(run)
    with pytest.raises(NotFound, match="no captured requirements"):
        pins_from_run(context, "default", made.id)


@pytest.mark.slow
def test_an_isolated_job_sees_its_pins_only_and_reuses_its_environment(
    make_context: Callable[..., Context], tmp_path: Path
) -> None:
    context = make_context()
    write(tmp_path, "requirements.txt", "six==1.16.0\n")
    write(
        tmp_path,
        "probe.py",
        "import importlib.util, six, sys\n"
        "print('six', six.__version__)\n"
        "print('psutil', importlib.util.find_spec('psutil') is not None)\n"
        "print('prefix', sys.prefix)\n",
    )
    first = submit_job("probe.py", requirements="requirements.txt", context=context)
    done = wait_job(first.id, timeout=240, context=context)
    text = job_logs(done.id, context=context).text
    assert done.status is JobStatus.SUCCEEDED, text
    assert "six 1.16.0\n" in text
    assert "psutil False\n" in text  # in Kiln's environment, not in the job's
    assert f"prefix {context.settings.home / 'envs' / done.environment}" in text
    assert "[kiln] building the isolated environment" in text

    second = wait_job(
        submit_job("probe.py", requirements="requirements.txt", context=context).id,
        timeout=120,
        context=context,
    )
    again = job_logs(second.id, context=context).text
    assert second.status is JobStatus.SUCCEEDED, again
    assert second.environment == done.environment
    assert "[kiln] reusing the isolated environment" in again
    assert "building" not in again

    # The job's run captured its pins, so a job can ask for the same environment by the run.
    third = wait_job(
        submit_job("probe.py", requirements_from_run=done.run_id, context=context).id,
        timeout=120,
        context=context,
    )
    assert third.status is JobStatus.SUCCEEDED, job_logs(third.id, context=context).text
    assert (third.requirements, third.environment) == (done.requirements, done.environment)
