"""Cron expressions read in a time zone: validation, and the fire times between two instants.

Five fields (minute hour day-of-month month day-of-week) or one of the
macros ``@hourly @daily @weekly @monthly @yearly``, computed by croniter in
an IANA time zone and returned in UTC. Around a change of clocks:

- a wall time that does not exist (clocks go forward) fires at the first
  instant after the gap, as croniter computes it;
- a wall time that happens twice (clocks go back) fires once, at its first
  occurrence, unless the hour field starts with ``*`` (an every-hour job
  runs in both hours, as Vixie cron does).

croniter is imported inside the functions, never when ``kiln`` is imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from kiln.errors import InvalidInput

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

__all__ = ["check_cron", "check_timezone", "fire_times", "next_fire_time"]

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_RANGES = ("0-59", "0-23", "1-31", "1-12 or JAN-DEC", "0-6 or SUN-SAT (7 is Sunday too)")
MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
#: A search for fire times gives up after this many steps (a cron that almost never fires).
_MAX_STEPS = 100_000


def check_timezone(timezone: str) -> ZoneInfo:
    """The ``ZoneInfo`` of an IANA name, or ``InvalidInput`` naming the field."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(timezone, str) or not timezone or len(timezone) > 64:
        raise InvalidInput(
            f"timezone {timezone!r} is not valid: use an IANA name such as UTC, Europe/Paris or "
            "America/New_York",
            field="timezone",
        )
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown timezone {timezone!r}: use an IANA name such as UTC, Europe/Paris or "
            "America/New_York",
            field="timezone",
        ) from None


def check_cron(cron: str) -> str:
    """``cron`` normalized (single spaces, macros expanded), or ``InvalidInput``.

    The message names the field at fault (``minute``, ``hour``, ...) and its range.
    """
    from croniter import CroniterError, croniter

    if not isinstance(cron, str) or len(cron) > 128:
        raise InvalidInput(f"cron expression {cron!r} is not valid", field="cron")
    text = MACROS.get(cron.strip().lower(), cron)
    fields = text.split()
    if len(fields) != len(FIELDS):
        raise InvalidInput(
            f"cron expression {cron!r} has {len(fields)} field(s); it needs five: minute hour "
            "day-of-month month day-of-week (e.g. '0 3 * * *' for 03:00 every day), or a macro "
            f"({', '.join(MACROS)})",
            field="cron",
        )
    for index, (name, value) in enumerate(zip(FIELDS, fields, strict=True)):
        alone = ["*"] * len(FIELDS)
        alone[index] = value
        if not croniter.is_valid(" ".join(alone)) or value.upper().startswith("H"):
            raise InvalidInput(
                f"cron expression {cron!r}: the {name} field {value!r} is not valid; it takes "
                f"{_RANGES[index]}, '*', lists (1,15), ranges (1-5) and steps (*/10)",
                field="cron",
            )
    normalized = " ".join(fields)
    try:
        next(_forward(normalized, check_timezone("UTC"), datetime.now(UTC)))
    except (CroniterError, StopIteration):
        raise InvalidInput(
            f"cron expression {cron!r} never fires (e.g. February 31st): check its day-of-month "
            "and month fields",
            field="cron",
        ) from None
    return normalized


def _repeats(cron: str, zone: ZoneInfo, moment: datetime) -> bool:
    """Whether ``moment`` is the second occurrence of a wall time that a fixed-hour cron skips."""
    if cron.split()[1].startswith("*"):
        return False
    return moment.astimezone(zone).fold == 1


def _forward(cron: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    from croniter import croniter

    times = croniter(cron, after.astimezone(zone))
    for _ in range(_MAX_STEPS):
        moment: datetime = times.get_next(datetime).astimezone(UTC)
        if moment > after and not _repeats(cron, zone, moment):
            yield moment


def next_fire_time(cron: str, timezone: str, after: datetime) -> datetime:
    """The first fire time strictly after ``after``, in UTC."""
    zone = check_timezone(timezone)
    try:
        return next(_forward(cron, zone, after))
    except StopIteration:
        raise InvalidInput(f"cron expression {cron!r} never fires", field="cron") from None


def fire_times(
    cron: str, timezone: str, start: datetime, end: datetime, limit: int
) -> list[datetime]:
    """Fire times in ``[start, end]`` (UTC), newest first, at most ``limit`` of them."""
    from croniter import croniter

    zone = check_timezone(timezone)
    # get_prev is strictly before its start: begin a second late so that `end` itself counts.
    times = croniter(cron, (end + timedelta(seconds=1)).astimezone(zone))
    found: list[datetime] = []
    for _ in range(_MAX_STEPS):
        if len(found) >= limit:
            break
        moment: datetime = times.get_prev(datetime).astimezone(UTC)
        if moment < start:
            break
        if moment <= end and not _repeats(cron, zone, moment):
            found.append(moment)
    return found
