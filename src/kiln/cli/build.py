"""``kiln build``: write a Docker build context (Dockerfile, locked requirements, the model).

A thin adapter over :func:`kiln.serving._build.build`; no container engine
runs here. ``docker build`` (or any OCI builder) takes the folder it writes.
"""

from __future__ import annotations

from pathlib import Path

import typer

from kiln.cli._app import context
from kiln.cli._output import console, print_json


def register(app: typer.Typer) -> None:
    app.command("build")(build)


def build(
    ctx: typer.Context,
    model_uri: str = typer.Argument(
        ..., help="models:/name@alias, models:/name/3, runs:/ID/path or a model folder."
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Folder for the build context (default: build/<model>-<version>).",
    ),
    pin_installed: bool = typer.Option(
        False,
        "--pin-installed",
        help="Pin requirements the model does not pin exactly to the versions installed here.",
    ),
    allow_pickle: bool = typer.Option(
        False, "--allow-pickle", help="Build for a pickled model (the image serves it)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the output folder if it holds files."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Write a Dockerfile and a locked requirements file that serve MODEL_URI on port 8080."""
    from kiln.context import using_context
    from kiln.serving._build import build as build_context

    kiln = context(ctx)
    with using_context(kiln):
        result = build_context(
            model_uri,
            output,
            pin_installed=pin_installed,
            allow_pickle=allow_pickle,
            overwrite=overwrite,
        )
    if as_json:
        print_json(result.to_dict())
        return
    console.print(
        f"wrote {result.output}: Dockerfile ({result.base_image}), requirements.lock "
        f"({len(result.requirements)} pins), model/ ({result.model_files} files checked)",
        highlight=False,
    )
    for pin in result.pinned_here:
        console.print(f"[yellow]pinned to the installed version:[/] {pin}", highlight=False)
    console.print(f"next: docker build -t {result.tag} {result.output}", highlight=False)
