"""The root ``kiln`` command: global options, and the command groups hung under it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from kiln.context import Context

app = typer.Typer(
    name="kiln",
    help="Kiln: data, features, pipelines, tracking, registry, serving and monitoring.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Options:
    """Global options; they override KILN_* variables and kiln.toml."""

    def __init__(self, overrides: dict[str, Any]) -> None:
        self.overrides = {key: value for key, value in overrides.items() if value is not None}
        self._context: Context | None = None

    @property
    def context(self) -> Context:
        if self._context is None:
            from kiln.config import Settings
            from kiln.context import Context

            self._context = Context(Settings.load(**self.overrides))
        return self._context


def options(ctx: typer.Context) -> Options:
    """The global options of the running command."""
    root = ctx.find_root()
    if not isinstance(root.obj, Options):
        root.obj = Options({})
    return root.obj


def context(ctx: typer.Context) -> Context:
    """The Kiln context (settings and stores) of the running command."""
    return options(ctx).context


def _version(value: bool) -> None:
    if value:
        from kiln._version import __version__

        typer.echo(f"kiln {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Path | None = typer.Option(None, help="Kiln home folder (env KILN_HOME)."),
    database_url: str | None = typer.Option(
        None, help="Metadata store URL (env KILN_DATABASE_URL)."
    ),
    artifact_root: str | None = typer.Option(
        None, help="Artifact store folder or URL (env KILN_ARTIFACT_ROOT)."
    ),
    project: str | None = typer.Option(None, help="Project to act on (env KILN_PROJECT)."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    ctx.obj = Options(
        {
            "home": home,
            "database_url": database_url,
            "artifact_root": artifact_root,
            "project": project,
        }
    )
