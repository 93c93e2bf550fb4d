"""The progress of a batch job: a rich bar of rows scored (out of the total, when known)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Progress", "progress_bar"]

#: Told the rows scored so far and the total (None when the input does not say, as CSV).
Progress = Callable[[int, int | None], None]


@contextmanager
def progress_bar(*, enabled: bool | None = None) -> Iterator[Progress]:
    """A :data:`Progress` drawing one bar on stderr (by default only when it is a terminal)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bar

    show = sys.stderr.isatty() if enabled is None else enabled
    with Bar(
        TextColumn("[bold]scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not show,
    ) as bar:
        task = bar.add_task("scoring", total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update
