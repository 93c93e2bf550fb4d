"""``kiln init``: set up a Kiln home with its stores."""

from __future__ import annotations

import typer

from kiln.cli._app import context
from kiln.cli._output import console

_TOML_TEMPLATE = """\
# Kiln configuration. Every key can also be set as KILN_<KEY> (which wins),
# and a kiln.toml in the working directory wins over this one.
# database_url = "postgresql://kiln@db.example.com:5432/kiln"
# artifact_root = "s3://my-bucket/kiln"
# project = "default"
# auth = false
# port = 8700
"""


def register(app: typer.Typer) -> None:
    app.command("init")(init)


def init(ctx: typer.Context) -> None:
    """Create the Kiln home, its metadata store and artifact store (safe to re-run)."""
    from kiln.config import CONFIG_FILE_NAME

    kiln = context(ctx)
    home = kiln.settings.home
    home.mkdir(parents=True, exist_ok=True)
    config_file = home / CONFIG_FILE_NAME
    if not config_file.exists():
        config_file.write_text(_TOML_TEMPLATE)
    revision = kiln.db.upgrade()
    probe = kiln.artifacts.put_bytes(b"kiln init probe")  # creates the store, proves it writable
    kiln.artifacts.delete(probe.digest)
    kiln.artifacts.cleanup_temporaries(older_than_seconds=3600)
    masked = kiln.settings.masked()
    console.print(f"[green]✓[/] home           {home}", highlight=False)
    console.print(f"[green]✓[/] configuration  {config_file}", highlight=False)
    console.print(
        f"[green]✓[/] metadata store {masked['database_url']} (schema {revision})", highlight=False
    )
    console.print(f"[green]✓[/] artifact store {masked['artifact_root']}", highlight=False)
    console.print("Next: `kiln demo`, or `kiln server` and open http://127.0.0.1:8700/docs")
