"""A rich progress bar of a study's trials, read from the metadata store.

Workers in other processes report nothing to the coordinator; the store
is the one place that knows how many trials finished, so the bar polls it.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from kiln.context import Context

__all__ = ["TrialProgress"]

_FINISHED = ("COMPLETE", "PRUNED", "FAIL")


class TrialProgress:
    """``with TrialProgress(...) as bar:`` then ``bar.poll()`` or ``bar.trial_done(trial)``."""

    def __init__(
        self, context: Context, study_id: int, study: str, budget: int, *, enabled: bool
    ) -> None:
        self.context = context
        self.study_id = study_id
        self.study = study
        self.budget = budget
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> TrialProgress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self._progress = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                transient=False,
            )
            total = self.budget if self.budget < 2**31 - 1 else None
            self._task = self._progress.add_task(f"study {self.study}", total=total)
            self._progress.start()
            self.poll()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self.poll()
            self._progress.stop()

    def poll(self) -> None:
        """Show the study's finished trials as the store has them now."""
        if self._progress is None:
            return
        from kiln.training._studies import count_trials

        counts = self.context.db.read(count_trials, self.study_id)
        done = sum(counts.get(state, 0) for state in _FINISHED)
        detail = ", ".join(f"{counts[s]} {s.lower()}" for s in _FINISHED if counts.get(s))
        self._progress.update(
            self._task,
            completed=done,
            description=f"study {self.study}" + (f" ({detail})" if detail else ""),
        )

    def trial_done(self, trial: FrozenTrial) -> None:
        self.poll()
