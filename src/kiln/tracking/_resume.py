"""Finding the run ``start_run(run_name=..., resume=True)`` carries on.

The search language has no escape for quotes, so a name holding one kind
is quoted with the other, and a name holding both is matched here, page by
page, among the experiment's unfinished runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiln.tracking._backend import TrackingBackend

__all__ = ["unfinished_run"]


def unfinished_run(tracking: TrackingBackend, experiment_id: str, run_name: str) -> str | None:
    """The newest run named ``run_name`` in the experiment that did not finish, if any."""
    quote = "'" if "'" not in run_name else '"'
    by_name = ""
    if quote not in run_name:
        by_name = f"attributes.run_name = {quote}{run_name}{quote} and "
    page: str | None = None
    while True:  # a name holding both quote marks is matched here instead of in the filter
        runs, page = tracking.search_runs(
            [experiment_id],
            filter_string=f"{by_name}attributes.status != 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1 if by_name else 1000,
            page_token=page,
        )
        found = next((run.id for run in runs if run.name == run_name), None)
        if found is not None or by_name or page is None:
            return found
