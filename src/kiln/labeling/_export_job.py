"""Label exports in the background: a large project's export runs as a tracked job.

::

    in_background(context, project, name, background)
                   background=None: more than INLINE_LIMIT labelled tasks
    submit_export  checks what can be checked now → submit_job(ENTRY, [name, dataset, …])
    main           in the job's process: export_dataset, a progress line a page,
                   "registered <dataset>@<version>", the job's run tagged with it

Why a job rather than a thread of the server: an export of a million tasks
outlives an HTTP request (CVAT's large exports time out), and a job gives
its logs, status, cancel and resource usage for free, and survives the
request and a restart of the server. The jobs API refuses to run code
posted to it (``kiln.server.api.jobs``), but nothing here is posted code:
the entry point is Kiln's own, fixed (``ENTRY``), and its arguments are
checked before the job is submitted, so a caller chooses data, not code.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from kiln.data._names import check_dataset_name
from kiln.errors import InvalidInput, KilnError
from kiln.labeling._export import export_dataset, labelled_count
from kiln.training._job_spec import NAME_LENGTH

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.training._jobs import Job

__all__ = [
    "ENTRY",
    "EXPERIMENT",
    "INLINE_LIMIT",
    "RUN_TAG",
    "in_background",
    "main",
    "submit_export",
]

#: Exports of up to this many labelled tasks run inline; bigger ones as a job.
INLINE_LIMIT = 20_000
#: The job's entry point: this module's ``main``, never one a caller names.
ENTRY = "kiln.labeling._export_job:main"
#: The experiment of the export jobs' runs.
EXPERIMENT = "labeling-exports"
#: The tag on the job's run that names the dataset version it registered.
RUN_TAG = "kiln.labeling.export"


def in_background(context: Context, project: str, name: str, background: bool | None) -> bool:
    """Whether to export as a job: as asked, or (None) when the project is large.

    ``NotFound`` for an unknown labeling project, whatever was asked.
    """
    count = context.db.read(labelled_count, project, name)
    return background if background is not None else count > INLINE_LIMIT


def submit_export(
    context: Context,
    project: str,
    name: str,
    dataset: str,
    *,
    description: str = "",
    user: str = "",
) -> Job:
    """Submit the export of ``name``'s labelled tasks to ``dataset`` as a job; return at once.

    Refused now rather than in the job: an unknown project (``NotFound``),
    a project with nothing labelled and a bad dataset name (``InvalidInput``).
    """
    from kiln.training._job_control import submit_job

    check_dataset_name(dataset, field="dataset")
    if context.db.read(labelled_count, project, name) == 0:
        raise InvalidInput(
            f"labeling project {name!r} has no labelled task yet: nothing to export; "
            "label some tasks first",
            field="name",
        )
    home = context.settings.home
    home.mkdir(parents=True, exist_ok=True)
    return submit_job(
        ENTRY,
        [name, dataset, description, user],
        name=f"export-{name}"[:NAME_LENGTH].rstrip(),
        experiment=EXPERIMENT,
        # The store's folder, not the caller's: a kiln.py there would shadow Kiln.
        workdir=home,
        context=context,
        project=project,
        user=user or None,
    )


def _tag_run(uri: str) -> None:
    """Name the version on the job's run (``KILN_RUN_ID``), when there is a run."""
    from kiln import tracking

    active = tracking.active_run()
    run_id = active.id if active is not None else os.environ.get("KILN_RUN_ID")
    if not run_id:
        return
    try:
        tracking.set_tag(RUN_TAG, uri, run_id=run_id)
        tracking.flush(run_id)
    except KilnError as error:  # the version is registered: the export still succeeded
        print(f"could not tag run {run_id} with {uri}: {error.message}", flush=True)


def main(name: str, dataset: str, description: str = "", user: str = "") -> None:
    """The job: export ``name``'s labelled tasks as the next version of ``dataset``.

    The context comes from the job's environment, which names the stores and
    the project of the submitter. A Kiln error ends the job failed with its
    message (no traceback).
    """
    from kiln.context import get_context

    context = get_context()
    project = context.settings.project
    try:
        total = context.db.read(labelled_count, project, name)
        print(
            f"exporting {total} labelled tasks of labeling project {name!r} to dataset {dataset!r}",
            flush=True,
        )

        def progress(done: int) -> None:
            print(f"exported {done} of {max(done, total)} labelled tasks", flush=True)

        version = export_dataset(
            context,
            project,
            name,
            dataset,
            description=description,
            user=user,
            progress=progress,
        )
    except KilnError as error:
        sys.exit(f"export failed: {error.message}")
    print(f"registered {version.uri}", flush=True)
    _tag_run(version.uri)
