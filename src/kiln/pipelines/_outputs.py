"""``load_output``: the value a step invocation of a past run produced."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiln.errors import NotFound
from kiln.pipelines._materializer import Materializers
from kiln.pipelines._records import get_step_run

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["load_output"]


def load_output(
    run_id: str,
    invocation: str,
    *,
    context: Context | None = None,
    project: str | None = None,
) -> Any:
    """Load the output of step ``invocation`` (``"train"``, ``"clean[2]"``) of run ``run_id``.

    Raises :class:`~kiln.errors.NotFound` when the step produced no output
    (it failed or was skipped) or its blobs are gone from the artifact store.
    """
    if context is None:
        from kiln.context import get_context

        context = get_context()
    project = project if project is not None else context.settings.project
    step_run = context.db.read(get_step_run, project, run_id, invocation)
    if not step_run.outputs:
        raise NotFound(
            f"step {invocation!r} of pipeline run {run_id} has no output: it is "
            f"{step_run.status.value}"
        )
    output = step_run.outputs[0]
    return Materializers.discover().get(output.materializer).load(context.artifacts, output.digest)
