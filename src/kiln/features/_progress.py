"""A rich progress bar for materialization, shown when stderr is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from kiln.features._materialize import Progress

__all__ = ["progress_bar"]


@contextmanager
def progress_bar(*, enabled: bool | None = None) -> Iterator[Progress]:
    """A ``Progress`` callback drawing one bar per view (on stderr; off when not a terminal)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Progress as Bar

    show = sys.stderr.isatty() if enabled is None else enabled
    tasks: dict[str, TaskID] = {}
    with Bar(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("entities"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not show,
    ) as bar:

        def update(view: str, done: int, total: int) -> None:
            if view not in tasks:
                tasks[view] = bar.add_task(view, total=total)
            bar.update(tasks[view], completed=done, total=total)

        yield update
