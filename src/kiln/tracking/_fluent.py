"""The tracking SDK: ``kiln.start_run``, ``kiln.log_metric`` and friends.

One process-wide stack of active runs (nested runs push onto it) and one log
buffer. Calls go to the backend of the current ``kiln.Context``: the stores
directly, or a Kiln server when ``KILN_SERVER_URL`` is set.
"""

from __future__ import annotations

import atexit
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from kiln.context import Context, get_context
from kiln.errors import Conflict, InvalidInput, KilnError
from kiln.tracking._buffer import LogBuffer
from kiln.tracking._entities import Experiment, Metric, Param, Run, RunStatus
from kiln.tracking._names import (
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    check_key,
    check_value,
)
from kiln.tracking._resume import unfinished_run
from kiln.tracking._runs import now_ms

if TYPE_CHECKING:
    from kiln.tracking._backend import TrackingBackend
    from kiln.tracking._system import SystemMetricsMonitor

_lock = threading.RLock()
_stack: list[ActiveRun] = []
_buffer = LogBuffer()
_backends: dict[int, TrackingBackend] = {}
_experiment_name: str | None = None
#: (backend id, experiment name) -> experiment id, so a run start costs no lookup.
_experiment_ids: dict[tuple[int, str], str] = {}
_exit_hooks_installed = False


def backend(context: Context | None = None) -> TrackingBackend:
    """The tracking backend of ``context`` (default: the current context)."""
    context = context or get_context()
    with _lock:
        found = _backends.get(id(context))
        if found is None or getattr(found, "context", context) is not context:
            if context.client is not None:
                from kiln.tracking._rest import RestBackend

                found = RestBackend(context.client, context.settings.project)
            else:
                from kiln.tracking._backend import LocalBackend

                found = LocalBackend(context)
            _backends[id(context)] = found
        return found


class ActiveRun:
    """A run in progress; use it as a context manager so it always ends.

    Leaving the ``with`` block normally ends the run as FINISHED; an exception
    ends it as FAILED with the traceback stored on the run (and re-raises).
    """

    def __init__(self, run: Run, backend: TrackingBackend) -> None:
        self.id = run.id
        self.experiment_id = run.experiment_id
        self.name = run.name
        self.backend = backend
        self._params: dict[str, str] = dict(run.params)
        self._monitor: SystemMetricsMonitor | None = None
        self._ended = False

    @property
    def run(self) -> Run:
        """The run as stored now (pending data is flushed first)."""
        flush(self.id)
        return self.backend.get_run(self.id)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.end(RunStatus.FINISHED)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end(RunStatus.KILLED, failure="interrupted (KeyboardInterrupt)")
        else:
            self.end(
                RunStatus.FAILED, failure="".join(traceback.format_exception(exc_type, exc, tb))
            )

    def end(self, status: RunStatus = RunStatus.FINISHED, failure: str | None = None) -> None:
        """Flush what is pending, stop system metrics, and record the final status."""
        if self._ended:
            return
        self._ended = True
        if self._monitor is not None:
            self._monitor.stop()
        with _lock:
            if self in _stack:
                _stack.remove(self)
        try:
            metrics, params, tags = _buffer.take(self.id)
        except KilnError:  # an earlier background write was refused: still end the run
            self.backend.end_run(self.id, status, failure)
            raise
        try:
            # The common case: the last data and the end in one write.
            self.backend.end_run(
                self.id, status, failure, metrics=metrics, params=params, tags=tags
            )
        except KilnError:
            if not (metrics or params or tags):
                raise
            # A refused param must not cost the metrics: write apart, then end.
            try:
                _buffer.add(self.id, _writer(self.backend), metrics=metrics, tags=tags)
                _buffer.flush(self.id)
                if params:
                    _buffer.add(self.id, _writer(self.backend), params=params)
                    _buffer.flush(self.id)
            finally:
                self.backend.end_run(self.id, status, failure)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id} {self.name!r}>"


def set_experiment(name: str) -> Experiment:
    """Make ``name`` the experiment new runs go to (creating it if needed)."""
    global _experiment_name
    tracking = backend()
    experiment = tracking.ensure_experiment(name)
    _experiment_ids[(id(tracking), name)] = experiment.id
    _experiment_name = name
    return experiment


def start_run(
    run_id: str | None = None,
    *,
    experiment: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    tags: Mapping[str, str] | None = None,
    log_system_metrics: bool = False,
    system_metrics_interval: float = 10.0,
    capture_environment: bool = True,
    resume: bool = False,
    parent_run_id: str | None = None,
) -> ActiveRun:
    """Start (or, with ``run_id``, resume) a run; use it as ``with kiln.start_run():``.

    ``nested=True`` starts a child of the active run. ``experiment`` defaults
    to the one of ``set_experiment``, then ``KILN_EXPERIMENT``, then "default".
    ``resume=True`` with ``run_name`` resumes the newest run of that name in
    the experiment that did not finish (it failed, was killed, or its process
    died), so a restarted script carries on where it stopped; with none, a
    new run starts. With no run active and no ``run_id``, ``KILN_RUN_ID``
    names the run to resume: how a training job hands its run to the code.
    ``parent_run_id`` starts a child of that run (in its experiment unless
    ``experiment`` says otherwise) without making the parent active.
    """
    import os

    tracking = backend()
    parent = active_run()
    if parent is not None and not nested and run_id is None and parent_run_id is None:
        raise Conflict(
            f"run {parent.id} is already active: end it first, or pass nested=True "
            "to start a child run"
        )
    if run_id is None and parent is None and not (nested or resume or parent_run_id):
        run_id = os.environ.get("KILN_RUN_ID") or None
    if run_id is None and resume:
        if run_name is None:
            raise InvalidInput("resume=True needs the run_name to resume", field="run_name")
        name = experiment or _experiment_name or os.environ.get("KILN_EXPERIMENT") or "default"
        run_id = unfinished_run(tracking, _experiment_id(tracking, name), run_name)
    if run_id is not None:
        run = tracking.get_run(run_id)
        if run.status is not RunStatus.RUNNING:
            run = tracking.update_run(run_id, status=RunStatus.RUNNING)
    else:
        name = experiment or _experiment_name or os.environ.get("KILN_EXPERIMENT") or "default"
        if parent_run_id is not None:
            experiment_id = (
                _experiment_id(tracking, experiment)
                if experiment is not None
                else tracking.get_run(parent_run_id).experiment_id
            )
        else:
            experiment_id = _experiment_id(tracking, name)
        all_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        if capture_environment:
            from kiln.tracking._environment import source_tags

            all_tags = {**source_tags(), **all_tags}
        run = tracking.create_run(
            experiment_id,
            name=run_name,
            parent_run_id=parent_run_id
            if parent_run_id is not None
            else (parent.id if parent is not None and nested else None),
            tags=all_tags,
        )
    active = ActiveRun(run, tracking)
    if run_id is None:
        from kiln.lineage import Node, report_made

        report_made(Node.run(run.id))
    with _lock:
        _stack.append(active)
    _install_exit_hooks()
    if run_id is None and capture_environment:
        from kiln.tracking._environment import log_environment

        log_environment(active)
    if log_system_metrics:
        from kiln.tracking._system import SystemMetricsMonitor

        active._monitor = SystemMetricsMonitor(
            active.id, _writer(tracking), system_metrics_interval
        )
        active._monitor.start()
    return active


def activate_run(run: Run) -> ActiveRun:
    """Make ``run``, just created or resumed by a service in this process, the active run.

    For code that made the run in its own transaction (a tuning trial is
    created together with its run): the run is not read back.
    """
    if run.status is not RunStatus.RUNNING:
        raise Conflict(f"run {run.id} is {run.status.value}: only a running run can be active")
    active = ActiveRun(run, backend())
    with _lock:
        _stack.append(active)
    _install_exit_hooks()
    return active


def _experiment_id(tracking: TrackingBackend, name: str) -> str:
    key = (id(tracking), name)
    found = _experiment_ids.get(key)
    if found is None:
        found = _experiment_ids[key] = tracking.ensure_experiment(name).id
    return found


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the innermost active run."""
    run = active_run()
    if run is not None:
        run.end(RunStatus(status))


def active_run() -> ActiveRun | None:
    """The innermost active run, or None."""
    with _lock:
        return _stack[-1] if _stack else None


def _target(run_id: str | None) -> tuple[str, TrackingBackend]:
    _install_exit_hooks()  # whatever is buffered is written before the interpreter exits
    if run_id is not None:
        return run_id, backend()
    run = active_run()
    if run is None:
        raise Conflict("no active run: call kiln.start_run() first, or pass run_id=")
    return run.id, run.backend


def _writer(tracking: TrackingBackend) -> Any:
    def write(
        run_id: str, metrics: list[Metric], params: list[Param], tags: list[tuple[str, str]]
    ) -> None:
        tracking.log_batch(run_id, metrics, params, tags)

    return write


def _metric(key: str, value: float, step: int | None, timestamp: int | None) -> Metric:
    check_key(key, what="metric key", field="key")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"metric {key!r} has the non-numeric value {value!r}", field="value"
        ) from None
    if isinstance(value, bool):
        number = float(value)
    return Metric(key, number, int(step or 0), int(timestamp) if timestamp else now_ms())


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    *,
    timestamp: int | None = None,
    run_id: str | None = None,
) -> None:
    """Log one metric point (buffered; NaN and ±inf are kept)."""
    rid, tracking = _target(run_id)
    _buffer.add(rid, _writer(tracking), metrics=[_metric(key, value, step, timestamp)])


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    *,
    timestamp: int | None = None,
    run_id: str | None = None,
) -> None:
    """Log several metrics at one step."""
    rid, tracking = _target(run_id)
    stamp = timestamp or now_ms()
    points = [_metric(k, v, step, stamp) for k, v in metrics.items()]
    _buffer.add(rid, _writer(tracking), metrics=points)


def log_param(key: str, value: Any, *, run_id: str | None = None) -> Any:
    """Log a param; a different value for a key already logged raises ``Conflict``."""
    log_params({key: value}, run_id=run_id)
    return value


def log_params(params: Mapping[str, Any], *, run_id: str | None = None) -> None:
    rid, tracking = _target(run_id)
    known = _known_params(rid)
    fresh: dict[str, str] = {}
    for key, value in params.items():  # check them all before remembering any
        check_key(key, what="param key", field="key")
        text = check_value(str(value), limit=MAX_PARAM_VALUE_LENGTH, what=f"param {key!r}")
        if known.get(key, text) != text or fresh.get(key, text) != text:
            raise Conflict(
                f"param {key!r} of run {rid} is already {known.get(key, fresh.get(key))!r}; "
                f"params cannot change (tried {text!r}): log it under another key or start "
                "a new run",
                field="value",
            )
        if key not in known:
            fresh[key] = text
    if fresh:
        _buffer.add(rid, _writer(tracking), params=[Param(k, v) for k, v in fresh.items()])
        known.update(fresh)


def _known_params(run_id: str) -> dict[str, str]:
    with _lock:
        for run in _stack:
            if run.id == run_id:
                return run._params
    return {}


def set_tag(key: str, value: Any, *, run_id: str | None = None) -> None:
    set_tags({key: value}, run_id=run_id)


def set_tags(tags: Mapping[str, Any], *, run_id: str | None = None) -> None:
    """Set tags (mutable, unlike params)."""
    rid, tracking = _target(run_id)
    items = []
    for key, value in tags.items():
        check_key(key, what="tag key", field="key")
        items.append(
            (key, check_value(str(value), limit=MAX_TAG_VALUE_LENGTH, what=f"tag {key!r}"))
        )
    _buffer.add(rid, _writer(tracking), tags=items)


def flush(run_id: str | None = None) -> None:
    """Write everything logged so far (for one run, or all) before returning."""
    _buffer.flush(run_id)


def get_run(run_id: str) -> Run:
    flush(run_id)
    return backend().get_run(run_id)


def search_runs(
    experiments: Sequence[str] = (),
    filter_string: str = "",
    *,
    order_by: Sequence[str] = (),
    max_results: int = 1000,
    page_token: str | None = None,
    run_view: str = "active_only",
) -> list[Run]:
    """Runs matching a filter (see docs/tracking.md), in the current project.

    ``experiments`` are names or ids (empty: every experiment). Returns one
    page; use ``search_runs_page`` for the token of the next.
    """
    runs, _ = search_runs_page(
        experiments,
        filter_string,
        order_by=order_by,
        max_results=max_results,
        page_token=page_token,
        run_view=run_view,
    )
    return runs


def search_runs_page(
    experiments: Sequence[str] = (),
    filter_string: str = "",
    *,
    order_by: Sequence[str] = (),
    max_results: int = 1000,
    page_token: str | None = None,
    run_view: str = "active_only",
) -> tuple[list[Run], str | None]:
    tracking = backend()
    ids = [e if str(e).isdigit() else tracking.ensure_experiment(e).id for e in experiments]
    return tracking.search_runs(
        ids,
        filter_string=filter_string,
        order_by=order_by,
        max_results=max_results,
        page_token=page_token,
        run_view=run_view,
    )


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    flush(run_id)
    return backend().metric_histories([run_id], [key]).get(run_id, {}).get(key, [])


def get_metric_histories(
    run_ids: Sequence[str], keys: Sequence[str] | None = None
) -> dict[str, dict[str, list[Metric]]]:
    """Histories of several runs in one call: ``{run_id: {key: [Metric, ...]}}``."""
    for run_id in run_ids:
        flush(run_id)
    return backend().metric_histories(run_ids, keys)


def _install_exit_hooks() -> None:
    """At exit: flush, and end runs still active (FAILED if an exception is killing us)."""
    global _exit_hooks_installed
    if _exit_hooks_installed:
        return
    _exit_hooks_installed = True
    previous = sys.excepthook
    crashed: list[str] = []

    def excepthook(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        crashed.append("".join(traceback.format_exception(exc_type, exc, tb)))
        previous(exc_type, exc, tb)

    sys.excepthook = excepthook

    def at_exit() -> None:
        for run in reversed(list(_stack)):
            try:
                if crashed:
                    run.end(RunStatus.FAILED, failure=crashed[-1])
                else:
                    run.end(RunStatus.FINISHED)
            except Exception:  # exiting: nothing better to do than continue
                pass
        _buffer.close()

    atexit.register(at_exit)


def _reset_for_tests() -> None:
    """End every active run and forget cached backends (test isolation)."""
    global _experiment_name
    for run in reversed(list(_stack)):
        run.end(RunStatus.KILLED)
    _backends.clear()
    _experiment_ids.clear()
    _experiment_name = None
