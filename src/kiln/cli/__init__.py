"""The ``kiln`` command line: one module per command group, thin over the services.

``main()`` runs the Typer app and turns any ``KilnError`` into its message on
stderr and an exit code from ``kiln.cli._output.EXIT_CODES``, never a traceback.
Heavy libraries are imported inside the commands that need them, so
``kiln --help`` answers at once.
"""

from __future__ import annotations

import sys

from kiln.cli import (
    admin,
    alerts,
    audit,
    build,
    datasets,
    db,
    demo,
    deployments,
    doctor,
    experiments,
    features,
    gc,
    import_,
    jobs,
    labeling,
    labeling_models,  # noqa: F401  (adds its commands to labeling's app)
    labeling_watches,  # noqa: F401  (adds its commands to labeling's app)
    lineage,
    models,
    monitor,
    pipelines,
    predict,
    projects,
    runs,
    schedules,
    serve,
    server,
    tokens,
    tune,
    users,
)
from kiln.cli._app import app
from kiln.cli._output import exit_code_of, print_error
from kiln.errors import KilnError

__all__ = ["app", "main"]

for _module in (doctor, admin, server, serve, predict, build, demo, lineage, schedules, gc):
    _module.register(app)
for _group in (
    db,
    projects,
    users,
    tokens,
    audit,
    experiments,
    runs,
    models,
    datasets,
    pipelines,
    alerts,
    features,
    deployments,
    monitor,
    jobs,
    tune,
    labeling,
):
    app.add_typer(_group.app, name=_group.NAME, help=_group.HELP)
app.add_typer(import_.app, name=import_.NAME, help=import_.HELP)


def main() -> None:
    """Entry point of the ``kiln`` console script."""
    try:
        # Standalone mode: Click prints usage errors (exit 2) and aborts (exit 1) itself.
        app(prog_name="kiln")
    except KilnError as error:
        print_error(error)
        sys.exit(exit_code_of(error))
