"""Trial rows to Optuna's ``FrozenTrial`` and back: JSON columns, states, times.

Values and attributes are JSON (``Infinity`` and ``NaN`` included, as
Python's ``json`` writes them); distributions use Optuna's own JSON form,
parsed once per distinct string. Times are aware UTC datetimes in Kiln,
naive local ones in Optuna's templates; both are converted here.
"""

from __future__ import annotations

import json
import math
import os
import socket
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

    from kiln.db.tables.training import TuningTrialRow

__all__ = [
    "FINISHED_STATES",
    "ProcessIdentity",
    "aware",
    "distribution",
    "dumps",
    "frozen_trial",
    "this_process",
]

#: States after which a trial is never written again.
FINISHED_STATES = frozenset({"COMPLETE", "PRUNED", "FAIL"})


def dumps(value: Any) -> str:
    """JSON that keeps infinities and NaN (Optuna allows them in values)."""
    return json.dumps(value, separators=(",", ":"))


@cache
def distribution(text: str) -> BaseDistribution:
    """The distribution of Optuna's JSON form ``text`` (distributions are immutable)."""
    from optuna.distributions import json_to_distribution

    return json_to_distribution(text)


def aware(moment: datetime | None) -> datetime | None:
    """``moment`` as an aware UTC datetime (a naive one is taken as local time, as Optuna's)."""
    if moment is None:
        return None
    return moment.astimezone(UTC)


def _intermediate(values: dict[int, float | None]) -> dict[int, float]:
    return {step: (math.nan if value is None else value) for step, value in values.items()}


def frozen_trial(
    row: TuningTrialRow,
    intermediate: dict[int, float | None],
    pending: dict[str, tuple[float, BaseDistribution]] | None = None,
) -> FrozenTrial:
    """The ``FrozenTrial`` of ``row``, with parameters not yet written (``pending``) merged in."""
    from optuna.distributions import distribution_to_json
    from optuna.trial import FrozenTrial, TrialState

    distributions = {
        name: distribution(text) for name, text in json.loads(row.distributions).items()
    }
    internal: dict[str, float] = json.loads(row.params)
    for name, (value, dist) in (pending or {}).items():
        internal[name] = value
        distributions[name] = distribution(distribution_to_json(dist))
    params = {name: distributions[name].to_external_repr(value) for name, value in internal.items()}
    values = json.loads(row.values) if row.values else None
    return FrozenTrial(
        number=row.number,
        state=TrialState[row.state],
        value=None,
        values=values,
        datetime_start=row.datetime_start,
        datetime_complete=row.datetime_complete,
        params=params,
        distributions=distributions,
        user_attrs=json.loads(row.user_attrs),
        system_attrs=json.loads(row.system_attrs),
        intermediate_values=_intermediate(intermediate),
        trial_id=row.id,
    )


class ProcessIdentity:
    """Who owns a running trial: host, pid and the process's start time (pids get reused)."""

    def __init__(self, host: str, pid: int, started: float) -> None:
        self.host = host
        self.pid = pid
        self.started = started

    def is_alive(self) -> bool | None:
        """Whether this process still runs; None when it is on another host (ask its heartbeat)."""
        import psutil

        if self.host != socket.gethostname():
            return None
        try:
            process = psutil.Process(self.pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                return False
            return abs(process.create_time() - self.started) < 1.0
        except psutil.NoSuchProcess:
            return False


def this_process() -> ProcessIdentity:
    """The identity of the calling process."""
    import psutil

    return ProcessIdentity(socket.gethostname(), os.getpid(), psutil.Process().create_time())
