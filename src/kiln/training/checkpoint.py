"""``kiln.checkpoint``: training state kept inside a tracked run, so a restart carries on.

::

    with kiln.start_run(run_name="resnet", resume=True):   # the same run after a crash
        state = kiln.checkpoint.latest()                    # None on the first start
        start = 0 if state is None else state["epoch"] + 1
        for epoch in range(start, epochs):
            ...
            kiln.checkpoint.save(
                {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch},
                step=epoch, metric=val_loss, keep_last=2, keep_best=1,
            )

How the parts relate::

    save / latest / load / list / delete     this module: the active run (or run_id=),
      │                                      the stores of its context
      │ which format writes the object       _checkpoint_formats.py: torch, the pipelines'
      │                                      materializers, pickle (opt-in only)
      ▼
    record / find / list / delete            _checkpoints.py: services on a Session;
                                             retention by step and by metric
    Checkpoint                               _checkpoint_entity.py

The bytes go to the content-addressed artifact store first and the row
second, so a crash leaves at most an unreferenced blob; ``kiln gc`` keeps
every blob a checkpoint row names. Checkpoints need the stores themselves:
with ``KILN_SERVER_URL`` set they refuse (the server has no checkpoint
routes). docs/training-checkpoints.md is the guide.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from kiln.context import Context, get_context
from kiln.errors import Conflict, InvalidInput
from kiln.training._checkpoint_entity import Checkpoint, Mode

if TYPE_CHECKING:
    from kiln.pipelines import Materializer

__all__ = ["Checkpoint", "delete", "latest", "list", "load", "save"]


def save(
    obj: Any,
    step: int,
    *,
    metric: float | None = None,
    mode: Mode = "min",
    keep_last: int | None = None,
    keep_best: int | None = None,
    format: str | None = None,
    allow_pickle: bool = False,
    run_id: str | None = None,
) -> Checkpoint:
    """Store ``obj`` as the checkpoint of the active run (or ``run_id``) at ``step``.

    Saving a step again replaces it. What was logged to the run before (its
    buffered metrics) is written first, so a checkpoint is never ahead of
    the metrics of the steps it covers. ``metric`` (finite) and ``mode``
    ("min": lower is better, or "max") rank checkpoints for ``keep_best``
    and ``load(best=True)``. With ``keep_last`` and/or ``keep_best`` set, the
    run then keeps the newest ``keep_last`` checkpoints by step (at least
    the newest), the best ``keep_best`` by metric, and this one; the other
    rows go (their blobs become garbage for ``kiln gc``). With neither, every
    checkpoint stays.

    ``obj`` is written in the first format that handles it (tensors and
    state dicts: ``torch``; DataFrames, Arrow tables, NumPy arrays, JSON
    values, Kiln models: the pipelines' formats); ``format`` names one
    instead. Anything else needs ``allow_pickle=True``.
    """
    from kiln.tracking import flush
    from kiln.training import _checkpoints
    from kiln.training._checkpoint_formats import checkpoint_formats, choose_format

    context, project, target = _target(run_id)
    retention = _checkpoints.check_save(step, metric, mode, keep_last, keep_best)
    chosen = choose_format(checkpoint_formats(), obj, format, allow_pickle=allow_pickle)
    flush(target)
    store = context.artifacts
    digest = chosen.save(obj, store)
    size = sum(store.size(blob) for blob in {digest, *chosen.blobs(store, digest)})
    return context.db.run(
        _checkpoints.record_checkpoint,
        project,
        target,
        retention,
        digest=digest,
        size=size,
        format=chosen.name,
    )


def latest(
    *,
    run_id: str | None = None,
    default: Any = None,
    map_location: Any = None,
    allow_pickle: bool = False,
) -> Any:
    """The object of the run's highest-step checkpoint, or ``default`` when it has none.

    ``map_location`` is handed to ``torch.load`` (``"cpu"`` reads a GPU
    checkpoint on a machine without one); ``allow_pickle`` is needed to read
    a checkpoint saved with pickle.
    """
    from kiln.training import _checkpoints

    context, project, target = _target(run_id)
    found = context.db.read(_checkpoints.find_checkpoint, project, target)
    if found is None:
        return default
    return _read(context, found, map_location=map_location, allow_pickle=allow_pickle)


def load(
    step: int | None = None,
    *,
    best: bool = False,
    run_id: str | None = None,
    map_location: Any = None,
    allow_pickle: bool = False,
) -> Any:
    """The object of the checkpoint at ``step``; the best with ``best=True``; else the newest.

    The best is ranked by the metric and mode the checkpoints were saved
    with. Raises ``NotFound`` (saying which steps exist) when there is no
    such checkpoint. ``map_location`` and ``allow_pickle`` as in :func:`latest`.
    """
    from kiln.training import _checkpoints

    if best and step is not None:
        raise InvalidInput("pass a step or best=True, not both", field="best")
    checked = None if step is None else _checkpoints.check_step(step)
    context, project, target = _target(run_id)
    found = context.db.read(_checkpoints.get_checkpoint, project, target, checked, best=best)
    return _read(context, found, map_location=map_location, allow_pickle=allow_pickle)


def list(run_id: str | None = None) -> builtins.list[Checkpoint]:
    """The run's checkpoints, oldest step first."""
    from kiln.training import _checkpoints

    context, project, target = _target(run_id)
    return context.db.read(_checkpoints.list_checkpoints, project, target)


def delete(step: int, *, run_id: str | None = None) -> Checkpoint:
    """Remove the checkpoint at ``step`` (``NotFound`` if there is none); returns what it was."""
    from kiln.training import _checkpoints

    checked = _checkpoints.check_step(step)
    context, project, target = _target(run_id)
    return context.db.run(_checkpoints.delete_checkpoint, project, target, checked)


def _target(run_id: str | None) -> tuple[Context, str, str]:
    """``(context, project, run id)`` of ``run_id``, else of the active run."""
    from kiln.tracking import active_run

    active = active_run()
    if run_id is None:
        if active is None:
            raise Conflict(
                "no active run to keep checkpoints in: start one with kiln.start_run() "
                "(kiln.start_run(run_name=..., resume=True) carries on a run that stopped), "
                "or pass run_id="
            )
        run_id = active.id
    tracking = active.backend if active is not None and active.id == run_id else None
    # An embedded run's backend holds the context it was started in (a pipeline step's, say).
    context: Context = getattr(tracking, "context", None) or get_context()
    if context.settings.server_url:
        raise InvalidInput(
            "kiln.checkpoint needs direct access to the metadata and artifact stores, and "
            f"KILN_SERVER_URL is set ({context.settings.masked()['server_url']}): the server "
            "has no checkpoint routes. Unset it and point KILN_DATABASE_URL and "
            "KILN_ARTIFACT_ROOT at the server's stores",
            field="server_url",
        )
    project = tracking.project if tracking is not None else context.settings.project
    return context, project, run_id


def _read(context: Context, found: Checkpoint, *, map_location: Any, allow_pickle: bool) -> Any:
    from kiln.errors import NotFound
    from kiln.training._checkpoint_formats import PickleFormat, TorchFormat, checkpoint_formats

    try:
        reader: Materializer = checkpoint_formats().get(found.format)
    except NotFound as error:
        raise NotFound(
            f"the checkpoint at step {found.step} of run {found.run_id} was saved in the "
            f"{found.format!r} format, which cannot be read here: {error.message}"
        ) from None
    store = context.artifacts
    if isinstance(reader, TorchFormat):
        return reader.load(store, found.digest, map_location=map_location)
    if isinstance(reader, PickleFormat):
        return reader.load(store, found.digest, allow_pickle=allow_pickle)
    return reader.load(store, found.digest)
