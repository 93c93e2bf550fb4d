"""``kiln gc``: blobs no record references; a dry run unless ``--delete``.

A thin adapter over :func:`kiln.gc.collect`. It opens the stores directly
(like ``kiln db upgrade``): collecting garbage is the job of whoever holds
the stores' credentials, and it is never done through a server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

import typer

from kiln.cli._app import context
from kiln.cli._output import console, err_console, print_json
from kiln.errors import InvalidInput

if TYPE_CHECKING:
    from kiln.gc import GcReport, Progress

NAME = "gc"
HELP = "Artifact blobs no record references: a dry run; --delete removes those older than --grace."

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: How many digests a dry run lists before summing up the rest.
_SHOWN = 20


def register(app: typer.Typer) -> None:
    app.command(NAME, help=HELP)(gc)


def gc(
    ctx: typer.Context,
    delete: bool = typer.Option(
        False, "--delete", help="Remove the garbage; without it nothing is removed."
    ),
    grace: str = typer.Option(
        "24h",
        "--grace",
        help="Spare unreferenced blobs written more recently than this: 90s, 30m, 24h, 7d, 2w.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    allow_no_references: bool = typer.Option(
        False,
        "--allow-no-references",
        help="Delete even when the metadata store references no blob at all.",
    ),
) -> None:
    """Report the blobs no record of any project references, and how many bytes they hold.

    Blobs younger than --grace are kept, so a writer that stored a blob but has
    not yet recorded it is never harmed. Dry run by default: add --delete.
    """
    from kiln.gc import collect

    window = parse_duration(grace)
    kiln = context(ctx)
    with _progress(enabled=not as_json) as progress:
        report = collect(
            kiln,
            dry_run=not delete,
            grace=window,
            progress=progress,
            allow_no_references=allow_no_references,
        )
    if as_json:
        print_json(report.to_json())
        return
    _print_report(report, grace)


def parse_duration(text: str) -> timedelta:
    """``"24h"`` → 24 hours; units s, m, h, d, w (none: seconds)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise InvalidInput(
            f"cannot read the duration {text!r}: use a number and a unit, "
            "as in 90s, 30m, 24h, 7d or 2w",
            field="grace",
        )
    value, unit = match.groups()
    return timedelta(seconds=float(value) * _UNIT_SECONDS[unit])


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Progress | None]:
    """A rich progress display on stderr (when it is a terminal), fed by collect's callback."""
    if not enabled or not err_console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    labels = {
        "references": "reading records",
        "listing": "listing blobs",
        "checking": "checking unreferenced blobs",
        "deleting": "deleting garbage",
    }
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def update(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(labels.get(phase, phase), total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


def _print_report(report: GcReport, grace: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(header_style="bold", title="Artifact store")
    table.add_column("blobs")
    table.add_column("count", justify="right")
    table.add_column("bytes", justify="right")
    table.add_row("scanned", f"{report.scanned:,}", "")
    table.add_row("referenced", f"{report.referenced:,}", "")
    table.add_row(
        f"unreferenced, younger than {grace}", f"{len(report.young):,}", _size(report.young_bytes)
    )
    table.add_row(
        f"garbage (older than {grace})", f"{len(report.garbage):,}", _size(report.garbage_bytes)
    )
    if not report.dry_run:
        table.add_row("deleted", f"{len(report.deleted):,}", _size(report.deleted_bytes))
    console.print(table)

    if report.dry_run and report.garbage:
        console.print("[bold]would delete:[/]")
        for blob in report.garbage[:_SHOWN]:
            console.print(f"  {blob.digest}  {_size(blob.size)}", highlight=False)
        if len(report.garbage) > _SHOWN:
            console.print(f"  … and {len(report.garbage) - _SHOWN:,} more (--json lists all)")
    if report.kept_at_delete:
        console.print(
            f"{len(report.kept_at_delete):,} blob(s) were referenced or written again while "
            "gc ran, and were kept"
        )
    if report.removed_temporaries:
        console.print(f"removed {report.removed_temporaries:,} temporaries left by crashed writers")
    if report.missing:
        console.print(
            f"[yellow]{len(report.missing):,} blob(s) that records name are not in the store[/] "
            "(--json lists them)"
        )
    if report.stale_cache_entries:
        console.print(
            f"{report.stale_cache_entries:,} step cache entries miss a blob: they are no longer "
            "hits, and their steps run again when next needed"
        )
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if report.dry_run:
        verb = "would free" if report.garbage else "nothing to free"
        amount = f" {_size(report.garbage_bytes)}" if report.garbage else ""
        console.print(f"dry run: {verb}{amount}; run `kiln gc --delete` to remove the garbage")
    else:
        console.print(f"freed {_size(report.deleted_bytes)}")


def _size(count: int) -> str:
    amount = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{count} B"
