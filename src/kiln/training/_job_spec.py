"""Checking what a submit asks for, before anything is recorded or started.

An entry point is a script path (``train.py``, ``jobs/train.py``; relative
to the working directory) or ``module:function`` (``pkg.train:main``),
imported in the job's process and called with the arguments as positional
strings. Resources are ``cpu=2,memory=4GB,gpu=0`` (or a mapping); a
timeout is seconds, or a number with ``s``, ``m`` or ``h``. Every refusal is
an ``InvalidInput`` naming the field.
"""

from __future__ import annotations

import importlib.machinery
import math
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kiln.errors import InvalidInput
from kiln.pipelines._resources import Resources, as_resources
from kiln.tracking._names import check_name

__all__ = [
    "RUNNERS",
    "check_spec",
    "is_script",
    "parse_resources",
    "parse_timeout",
]

RUNNERS = ("local", "ray")
_FUNCTION = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?)\s*(s|sec|m|min|h)?\s*", re.IGNORECASE)
_SCALE = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
NAME_LENGTH = 128


def is_script(entry: str) -> bool:
    """Whether ``entry`` names a script file rather than ``module:function``."""
    return entry.endswith(".py") or "/" in entry or "\\" in entry


def parse_resources(value: str | Mapping[str, Any] | Resources | None) -> Resources:
    """``Resources`` from ``"cpu=2,memory=4GB,gpu=0"``, a mapping, or None (1 CPU)."""
    if isinstance(value, str):
        pairs: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            key, sep, text = part.partition("=")
            key = key.strip().lower()
            if not sep or not key or not text.strip():
                raise InvalidInput(
                    f"resources {value!r}: {part!r} is not name=value; write e.g. "
                    "cpu=2,memory=4GB,gpu=0",
                    field="resources",
                )
            if key in pairs:
                raise InvalidInput(f"resources {value!r} name {key} twice", field="resources")
            text = text.strip()
            if key in ("cpu", "gpu"):
                try:
                    pairs[key] = float(text)
                except ValueError:
                    raise InvalidInput(
                        f"resources: {key}={text!r} is not a number", field="resources"
                    ) from None
            else:
                pairs[key] = text
        value = pairs
    try:
        return as_resources(value)
    except InvalidInput as error:
        raise InvalidInput(
            f"{error.message} (a job asks for cpu, gpu and memory, e.g. cpu=2,memory=4GB,gpu=0)",
            field="resources",
        ) from None


def parse_timeout(value: float | int | str | None) -> float | None:
    """Seconds from ``90``, ``"90"``, ``"30s"``, ``"5m"`` or ``"2h"``; None for no timeout."""
    if value is None:
        return None
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value)):
        seconds = float(match.group(1)) * _SCALE[(match.group(2) or "").lower()]
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInput(
            f"timeout {value!r} is not a positive duration: give seconds (90) or e.g. 30s, 5m, 2h",
            field="timeout",
        )
    return seconds


def _check_entry(entry: object, workdir: Path, *, isolated: bool) -> str:
    if not isinstance(entry, str) or not entry.strip():
        raise InvalidInput(
            "give the job's entry point: script.py or module:function", field="entry"
        )
    entry = entry.strip()
    if is_script(entry):
        path = Path(entry)
        found = path if path.is_absolute() else workdir / path
        if not found.is_file():
            raise InvalidInput(
                f"script {entry} does not exist in {workdir}; give a path to a .py file "
                "(relative to the working directory) or module:function",
                field="entry",
            )
        return entry
    if not _FUNCTION.fullmatch(entry):
        raise InvalidInput(
            f"entry {entry!r} is neither a script path (ending in .py) nor module:function "
            "(e.g. train:main or pkg.train:main)",
            field="entry",
        )
    top = entry.partition(":")[0].split(".")[0]
    # Only the top-level module is looked for: finding a submodule imports its package.
    # An isolated job's modules may live in its environment only, so it is not looked for.
    if not isolated and top not in sys.builtin_module_names:
        search = [str(workdir), *sys.path[1:]]
        if importlib.machinery.PathFinder.find_spec(top, search) is None:
            raise InvalidInput(
                f"module {top!r} of entry {entry} cannot be found from {workdir}; run from the "
                "folder that holds it, pass --workdir, or install it",
                field="entry",
            )
    return entry


def default_name(entry: str) -> str:
    """A job's name when none is given: the script's stem, or the function's name."""
    if is_script(entry):
        return Path(entry).stem or "job"
    return entry.rpartition(":")[2].rpartition(".")[2]


def check_spec(
    entry: object,
    args: Sequence[object] = (),
    *,
    name: str | None = None,
    workdir: str | Path | None = None,
    runner: str = "local",
    resources: Any = None,
    timeout: Any = None,
    isolated: bool = False,
    experiment: str = "jobs",
) -> dict[str, Any]:
    """The checked fields of a ``JobSpec`` (requirements are checked by ``_job_envs``)."""
    folder = Path(workdir).expanduser() if workdir else Path.cwd()
    if not folder.is_dir():
        raise InvalidInput(f"working directory {folder} does not exist", field="workdir")
    folder = folder.resolve()
    checked_entry = _check_entry(entry, folder, isolated=isolated)
    if isinstance(args, str) or not all(isinstance(a, str) for a in args):
        raise InvalidInput(
            f"args must be a list of strings (what the entry point receives), got {args!r}",
            field="args",
        )
    if runner not in RUNNERS:
        raise InvalidInput(f"runner {runner!r} is not one of {', '.join(RUNNERS)}", field="runner")
    job_name = check_name(
        name if name is not None else default_name(checked_entry), what="job name"
    )
    if len(job_name) > NAME_LENGTH:
        raise InvalidInput(
            f"job name is {len(job_name)} characters long; the limit is {NAME_LENGTH}", field="name"
        )
    return {
        "name": job_name,
        "entry": checked_entry,
        "args": tuple(str(a) for a in args),
        "working_dir": str(folder),
        "runner": runner,
        "resources": parse_resources(resources),
        "timeout": parse_timeout(timeout),
        "isolated": isolated,
        "experiment": check_name(experiment, what="experiment name", field="experiment"),
    }
