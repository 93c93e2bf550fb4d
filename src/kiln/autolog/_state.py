"""Process-wide autolog state: the options in force, the nesting depth, warnings given.

The depth is process-wide rather than per thread on purpose: the tracking
SDK keeps one stack of active runs per process, and estimators such as
``IsolationForest`` or a search under joblib's threading backend fit their
sub-estimators in worker threads. A per-thread flag would let those inner
fits log into the outer fit's run.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass

__all__ = ["AutologWarning", "Options", "enter", "leave", "options", "set_options", "warn"]


class AutologWarning(UserWarning):
    """Logging something about a fit failed; the fit itself went on unaffected."""


@dataclass(frozen=True, slots=True)
class Options:
    """What ``kiln.autolog(...)`` was asked to log."""

    log_models: bool = True
    log_input_examples: bool = True
    log_datasets: bool = True
    exclusive: bool = False
    silent: bool = False


_lock = threading.Lock()
_options: Options | None = None
_depth = 0
_warned: set[tuple[str, str]] = set()
#: Runs the user started that already hold one autologged fit; later fits get child runs.
hosting: set[str] = set()


def options() -> Options | None:
    """The options in force, or None when autolog is off."""
    return _options


def set_options(value: Options | None) -> None:
    global _options
    with _lock:
        _options = value
        _warned.clear()


def enter() -> bool:
    """Mark an autologged call in progress; False (and nothing marked) if one already is."""
    global _depth
    with _lock:
        if _depth:
            return False
        _depth = 1
        return True


def leave() -> None:
    global _depth
    with _lock:
        _depth = 0


def warn(what: str, error: BaseException) -> None:
    """Warn that ``what`` failed, once per (what, error type) while these options hold."""
    current = _options
    if current is not None and current.silent:
        return
    key = (what, type(error).__name__)
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(
        f"kiln.autolog: {what} failed and was skipped ({type(error).__name__}: {error}); "
        "the fit itself is unaffected. Pass silent=True to kiln.autolog() to hide these.",
        AutologWarning,
        stacklevel=3,
    )
