"""What a run ran on: source, git state, Python, and installed packages.

Packages are read from installed distribution metadata (no ``pip freeze``
subprocess); git is asked once per process with a short timeout. Everything
is cached per process, and identical files de-duplicate in the artifact store,
so the cost per run is a few small writes.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiln.tracking._fluent import ActiveRun

GIT_DIFF_LIMIT = 5 * 1024 * 1024


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
            cwd=_source_dir(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _source_dir() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return str(Path(path).resolve().parent) if path else os.getcwd()


@functools.cache
def source_tags() -> dict[str, str]:
    """Tags naming the code of this process: entry point, git commit and state, Python."""
    main = sys.modules.get("__main__")
    entry = getattr(main, "__file__", None)
    tags = {
        "kiln.source.name": str(Path(entry).resolve()) if entry else "<interactive>",
        "kiln.source.type": "SCRIPT" if entry else "INTERACTIVE",
        "kiln.python.version": platform.python_version(),
    }
    commit = _git("rev-parse", "HEAD")
    if commit:
        tags["kiln.source.git.commit"] = commit.strip()
        branch = _git("rev-parse", "--abbrev-ref", "HEAD")
        if branch:
            tags["kiln.source.git.branch"] = branch.strip()
        status = _git("status", "--porcelain", "--untracked-files=no")
        tags["kiln.source.git.dirty"] = "true" if status else "false"
    return tags


@functools.cache
def installed_packages() -> str:
    """``name==version`` of every distribution of the running interpreter, sorted."""
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.name
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={dist.version}"
    return "\n".join(sorted(seen.values(), key=str.lower)) + "\n"


@functools.cache
def _environment_files() -> dict[str, bytes]:
    files = {
        "environment/requirements.txt": installed_packages().encode(),
        "environment/python.json": json.dumps(
            {
                "version": platform.python_version(),
                "implementation": platform.python_implementation(),
                "platform": platform.platform(),
                "executable": sys.executable,
            },
            indent=2,
        ).encode(),
    }
    if source_tags().get("kiln.source.git.dirty") == "true":
        diff = _git("diff", "HEAD") or ""
        files["environment/git.diff"] = diff.encode()[:GIT_DIFF_LIMIT]
    return files


def log_environment(run: ActiveRun) -> None:
    """Attach the environment files to a run (one write; the blobs de-duplicate)."""
    run.backend.log_artifact_bytes(run.id, list(_environment_files().items()))
