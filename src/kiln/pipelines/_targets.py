"""Finding a pipeline again from ``module:qualname`` (for the CLI, resumes and schedules)."""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput

if TYPE_CHECKING:
    from kiln.pipelines._pipeline import Pipeline

__all__ = ["load_pipeline"]


def load_pipeline(target: str, workdir: str | None = None) -> Pipeline:
    """The ``Pipeline`` that ``module:attribute`` names, importable from ``workdir``.

    ``workdir`` (default: none added) goes first on ``sys.path``, as the
    folder a script is run from would.
    """
    from kiln.pipelines._pipeline import Pipeline

    module_name, _, attribute = target.partition(":") if isinstance(target, str) else ("", "", "")
    if not module_name or not attribute:
        raise InvalidInput(f"expected module:function, got {target!r}", field="target")
    if workdir and workdir not in sys.path:
        sys.path.insert(0, workdir)
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, SyntaxError) as exc:
        where = f" from {workdir}" if workdir else ""
        raise InvalidInput(f"cannot import {target}{where}: {exc}", field="target") from None
    if not isinstance(found, Pipeline):
        raise InvalidInput(
            f"{target} is a {type(found).__name__}, not a kiln Pipeline: decorate it with "
            "@kiln.pipelines.pipeline",
            field="target",
        )
    return found
