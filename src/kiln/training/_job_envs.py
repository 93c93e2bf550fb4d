"""Isolated jobs: a fresh virtual environment per set of pinned requirements, built once.

::

    normalize_pins(text)     one pin per line, names canonical, sorted; unpinned lines refused
    pins_from_run(...)       what tracking captured for a run (environment/requirements.txt)
    ensure_environment(...)  <kiln home>/envs/<sha256 of python version + pins>/
                               built under a file lock: python -m venv, pip install -r
                               a marker file written last; a folder without it is a build
                               that died, removed and built again
                             reused as long as the pins (and Python) are unchanged

The environment is isolated: no ``--system-site-packages``, and the job's
``PYTHONPATH`` is cleared. Kiln itself is not fetched: when the pins name
``kiln-ml``, that pin is replaced by Kiln's own dependencies at the versions
running here (unless the pins name them too), and the running ``kiln``
package is linked in (a ``.pth`` naming a folder that holds only a link to
it), so ``import kiln`` inside the job uses the same Kiln as the submitter
and nothing else of this interpreter leaks in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.errors import InvalidInput, KilnError, NotFound

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = [
    "Environment",
    "ensure_environment",
    "environment_key",
    "normalize_pins",
    "pins_from_run",
]

#: The file of a run's captured packages (kiln.tracking._environment).
CAPTURED = "environment/requirements.txt"
MARKER = "kiln-env.json"
KILN_DISTRIBUTION = "kiln-ml"
_REQUIREMENT = re.compile(
    r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?P<extras>\[[^\]]*\])?\s*"
    r"(?P<op>===|==|@)\s*(?P<rest>\S.*)"
)
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
#: pip options that change where packages come from; kept in the pins (and in the key).
_OPTIONS = (
    "--index-url",
    "-i",
    "--extra-index-url",
    "--find-links",
    "-f",
    "--trusted-host",
    "--no-binary",
    "--only-binary",
    "--prefer-binary",
    "--pre",
)

#: Runs a command of the build (output into the job's log); returns its exit code.
CommandRunner = Callable[[Sequence[str], dict[str, str]], int]


@dataclass(frozen=True, slots=True)
class Environment:
    """An isolated environment: its key, folder, interpreter, and whether it was reused."""

    key: str
    folder: Path
    python: Path
    reused: bool


def canonical_name(name: str) -> str:
    """A distribution name as PEP 503 compares them (``Foo_Bar`` is ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def normalize_pins(text: str) -> str:
    """The pins of ``text`` (a requirements file), one per line, sorted; unpinned ones refused.

    Comments and blank lines go; index options stay, in order, before the
    pins. ``-r``/``-c`` includes and ``-e`` installs are refused (their
    content would not be part of what decides reuse).
    """
    options: list[str] = []
    pins: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        where = f"requirements line {number} ({raw.strip()!r})"
        if line.startswith("-"):
            option = re.split(r"[\s=]", line, maxsplit=1)[0]
            if option not in _OPTIONS:
                raise InvalidInput(
                    f"{where}: {option} is not allowed in an isolated job's requirements; inline "
                    "included files and pin every package as name==version",
                    field="requirements",
                )
            options.append(" ".join(line.split()))
            continue
        match = _REQUIREMENT.fullmatch(line)
        if match is None:
            raise InvalidInput(
                f"{where} is not pinned: write name==version (or name @ URL), so the "
                "environment is the same every time it is built",
                field="requirements",
            )
        name = canonical_name(match["name"])
        extras = (match["extras"] or "").replace(" ", "")
        op = match["op"]
        pin = f"{name}{extras}{' @ ' if op == '@' else op}{' '.join(match['rest'].split())}"
        if pins.get(name, pin) != pin:
            raise InvalidInput(
                f"{where}: {name} is pinned twice ({pins[name]!r} and {pin!r})",
                field="requirements",
            )
        pins[name] = pin
    if not pins:
        raise InvalidInput(
            "the requirements name no package: give at least one name==version",
            field="requirements",
        )
    return "\n".join([*options, *sorted(pins.values())]) + "\n"


def pins_from_run(context: Context, project: str, run_id: str) -> str:
    """The normalized pins tracking captured for ``run_id`` (its environment/requirements.txt)."""
    from kiln.tracking._artifacts import get_artifact

    try:
        artifact = context.db.read(get_artifact, project, run_id, CAPTURED)
    except NotFound as error:
        raise NotFound(
            f"{error.message}: run {run_id} has no captured requirements; runs started with "
            "kiln.start_run() capture them, or give --requirements FILE instead"
        ) from None
    text = context.artifacts.read_bytes(artifact.digest).decode("utf-8", errors="replace")
    return normalize_pins(text)


def environment_key(pins: str) -> str:
    """The sha256 naming the environment of ``pins`` for this Python version."""
    identity = f"{platform.python_implementation()} {platform.python_version()}\n{pins}"
    return hashlib.sha256(identity.encode()).hexdigest()


def _kiln_pinned(pins: str) -> bool:
    return any(canonical_name(_pin_name(line)) == KILN_DISTRIBUTION for line in _pin_lines(pins))


def _pin_lines(pins: str) -> list[str]:
    return [line for line in pins.splitlines() if line and not line.startswith("-")]


def _pin_name(line: str) -> str:
    match = _NAME.match(line)
    return match.group(0) if match else line


def install_lines(pins: str) -> list[str]:
    """What ``pip install -r`` gets: the pins, with ``kiln-ml`` replaced by its dependencies."""
    lines = pins.splitlines()
    if not _kiln_pinned(pins):
        return lines
    named = {canonical_name(_pin_name(line)) for line in _pin_lines(pins)}
    kept = [line for line in lines if canonical_name(_pin_name(line)) != KILN_DISTRIBUTION]
    for requirement in metadata.requires(KILN_DISTRIBUTION) or []:
        if "extra ==" in requirement:
            continue
        name = canonical_name(_pin_name(requirement))
        if name in named:
            continue
        try:
            kept.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            kept.append(requirement.split(";")[0].strip())
    return kept


def _site_packages(folder: Path) -> Path:
    found = sorted((folder / "lib").glob("python*/site-packages"))
    if not found:
        raise KilnError(f"the new environment {folder} has no site-packages folder")
    return found[0]


def _link_kiln(folder: Path) -> None:
    """Make the running ``kiln`` package, and only it, importable in the environment."""
    import kiln

    holder = folder / "kiln-link"
    holder.mkdir(exist_ok=True)
    (holder / "kiln").symlink_to(Path(kiln.__file__).resolve().parent, target_is_directory=True)
    (_site_packages(folder) / "_kiln_link.pth").write_text(f"{holder}\n", encoding="utf-8")


def build_environment_variables() -> dict[str, str]:
    """The environment of build commands and isolated jobs: no PYTHONPATH leaking in."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def _build(folder: Path, pins: str, run: CommandRunner) -> None:
    env = build_environment_variables()
    code = run([sys.executable, "-m", "venv", str(folder)], env)
    if code != 0:
        raise KilnError(f"python -m venv {folder} exited with code {code}; see the job's log")
    lines = install_lines(pins)
    requirements = folder / "requirements.txt"
    requirements.write_text("\n".join(lines) + "\n", encoding="utf-8")
    python = folder / "bin" / "python"
    if _pin_lines("\n".join(lines)):
        code = run([str(python), "-m", "pip", "install", "-r", str(requirements)], env)
        if code != 0:
            raise KilnError(
                f"pip could not install the job's requirements (exit code {code}); the job's log "
                "has pip's output: fix the pins and submit again"
            )
    if _kiln_pinned(pins):
        _link_kiln(folder)
    marker = folder / f"{MARKER}.tmp"
    marker.write_text(
        json.dumps({"pins": pins, "python": platform.python_version(), "built": time.time()}),
        encoding="utf-8",
    )
    marker.replace(folder / MARKER)


@contextlib.contextmanager
def _locked(path: Path, should_stop: Callable[[], bool]) -> Iterator[None]:
    """An exclusive lock on ``path`` (another process building the same environment waits)."""
    import fcntl

    with open(path, "a+b") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if should_stop():
                    raise InterruptedError("stopped while waiting for the environment") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def ensure_environment(
    root: Path,
    pins: str,
    run: CommandRunner,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    note: Callable[[str], None] = lambda text: None,
) -> Environment:
    """The environment of ``pins`` under ``root``: reused when built, else built now.

    ``run`` runs each build command (the executor passes one that writes its
    output to the job's log and ends it on cancel); ``note`` says what
    happens. A failed build removes its folder, so nothing half built is
    ever reused.
    """
    key = environment_key(pins)
    folder = root / key
    python = folder / "bin" / "python"
    if (folder / MARKER).is_file():
        return Environment(key, folder, python, reused=True)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{key}.lock", should_stop):
        if (folder / MARKER).is_file():  # built by another job while this one waited
            return Environment(key, folder, python, reused=True)
        if folder.exists():
            note(f"removing {folder}: an earlier build of it did not finish")
            shutil.rmtree(folder)
        note(f"building the isolated environment {key[:12]} in {folder}")
        try:
            _build(folder, pins, run)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return Environment(key, folder, python, reused=False)
