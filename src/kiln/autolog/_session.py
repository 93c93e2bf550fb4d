"""One autologged call: which run it logs into, and how that run ends.

::

    session = begin("LogisticRegression", "sklearn")
    if session is None:                  # autolog off, or nested in an autologged call
        return original(*args, **kwargs)
    with session:                        # ends the run autolog started: FINISHED, or
        session.safely("...", log, ...)  # FAILED when the user's call raises (re-raised)
        return original(*args, **kwargs)

Run choice: no active run → a new run named after the estimator, ended
after the call; an active run the user started → that run, once (with
``exclusive=True``: nothing is logged); an active run that already holds an
autologged call → a child run of it, so params never clash.
"""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from kiln.autolog import _state

if TYPE_CHECKING:
    from kiln.tracking import ActiveRun

__all__ = ["Session", "begin"]

T = TypeVar("T")


class Session:
    """The run one autologged call logs into (``run_id`` is None when it logs nothing)."""

    def __init__(
        self, options: _state.Options, run: ActiveRun | None, owned: bool, flavor: str
    ) -> None:
        self.options = options
        self.run = run
        self.run_id = run.id if run is not None else None
        self.owned = owned
        self.flavor = flavor

    def safely(
        self, what: str, function: Callable[..., T], *args: Any, hush: bool = True
    ) -> T | None:
        """``function(*args)``, or None (with one warning) if it raises; no-op without a run.

        With ``hush``, warnings raised by the libraries meanwhile are silenced:
        they are about Kiln's own calls (a metric undefined for one class, a
        serializer's notice), not about the user's code. Per-iteration
        callbacks pass ``hush=False``: they only log, and run thousands of times.
        """
        if self.run_id is None:
            return None
        try:
            if not hush:
                return function(*args)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return function(*args)
        except Exception as error:
            _state.warn(f"{self.flavor} autolog: {what}", error)
            return None

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.owned and self.run is not None:
                self._end(exc_type, exc, tb)
        finally:
            _state.leave()

    def _end(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from kiln.tracking import RunStatus

        assert self.run is not None
        try:
            if exc_type is None:
                self.run.end(RunStatus.FINISHED)
            elif issubclass(exc_type, KeyboardInterrupt):
                self.run.end(RunStatus.KILLED, failure="interrupted (KeyboardInterrupt)")
            else:
                failure = "".join(traceback.format_exception(exc_type, exc, tb))
                self.run.end(RunStatus.FAILED, failure=failure)
        except Exception as error:  # the user's result (or exception) matters more
            _state.warn(f"{self.flavor} autolog: ending run {self.run_id}", error)


def begin(run_name: str, flavor: str) -> Session | None:
    """A session for an autologged call, or None when autolog is off or the call is nested.

    A session that could not get a run (no store, or ``exclusive=True`` under
    a user's run) still counts as the outer call, so nested calls stay quiet.
    """
    options = _state.options()
    if options is None or not _state.enter():
        return None
    try:
        run, owned = _choose_run(options, run_name)
    except Exception as error:
        _state.warn(f"{flavor} autolog: starting a run", error)
        run, owned = None, False
    return Session(options, run, owned, flavor)


def _choose_run(options: _state.Options, run_name: str) -> tuple[ActiveRun | None, bool]:
    from kiln import tracking

    parent = tracking.active_run()
    if parent is None:
        return tracking.start_run(run_name=run_name), True
    if options.exclusive:
        return None, False
    if parent.id in _state.hosting:
        child = tracking.start_run(run_name=run_name, nested=True, capture_environment=False)
        return child, True
    _state.hosting.add(parent.id)
    return parent, False
