"""``kiln doctor``: the resolved configuration, and whether each store answers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from kiln.cli._app import context
from kiln.cli._output import console

if TYPE_CHECKING:
    from kiln.context import Context


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(ctx: typer.Context) -> None:
    """Print the configuration (passwords masked) and check the stores are reachable."""
    from rich.table import Table

    kiln = context(ctx)
    config = Table(title="Configuration", header_style="bold")
    config.add_column("setting")
    config.add_column("value")
    for key, value in kiln.settings.masked().items():
        config.add_row(key, "-" if value is None else str(value))
    console.print(config)

    checks: list[tuple[str, Callable[[Context], str]]] = [
        ("metadata store", _check_database),
        ("artifact store", _check_artifacts),
    ]
    if kiln.settings.server_url:
        checks.append(("server", _check_server))
    results = Table(title="Checks", header_style="bold")
    results.add_column("")
    results.add_column("check")
    results.add_column("result")
    failed = False
    for name, check in checks:
        try:
            detail, mark = check(kiln), "[green]✓[/]"
        except Exception as exc:
            detail, mark, failed = f"{type(exc).__name__}: {exc}", "[red]✗[/]", True
        results.add_row(mark, name, detail)
    console.print(results)
    if failed:
        raise typer.Exit(1)


def _check_database(kiln: Context) -> str:
    kiln.db.ping()
    revision, head = kiln.db.revision()
    if revision is None:
        return f"reachable ({kiln.db.dialect}); empty, migrated on first use"
    if revision != head:
        return f"reachable; schema {revision}, needs {head}: run `kiln db upgrade`"
    return f"reachable ({kiln.db.dialect}), schema {revision} (current)"


def _check_artifacts(kiln: Context) -> str:
    probe = f"kiln doctor probe {uuid.uuid4()}".encode()
    blob = kiln.artifacts.put_bytes(probe)
    try:
        if kiln.artifacts.read_bytes(blob.digest) != probe:
            raise RuntimeError("a blob read back differs from what was written")
    finally:
        kiln.artifacts.delete(blob.digest)
    return "writable and readable"


def _check_server(kiln: Context) -> str:
    import json
    import urllib.request

    url = f"{(kiln.settings.server_url or '').rstrip('/')}/health"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    return f"{url}: {body.get('status')} (Kiln {body.get('version')})"
