"""A job's output as readers see it: from a chunk offset on (following it), or its tail (a page).

The executor stores the output as numbered chunks (``_job_records.append_output``);
a reader asks from an offset and gets ``next_offset`` back, so following a
running job is a loop of small reads from any machine that reaches the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.db.tables import TrainingJobLogRow
from kiln.errors import InvalidInput
from kiln.training._jobs import JobStatus, job_row

__all__ = ["MAX_LOG_CHUNKS", "JobLogs", "LogTail", "log_tail", "read_logs"]

#: Chunks one ``read_logs`` call returns at most (each is at most ~256 KiB).
MAX_LOG_CHUNKS = 200
#: Chunks ``log_tail`` reads at most (chunks are small while output trickles in).
_TAIL_CHUNKS = 5000


@dataclass(frozen=True, slots=True)
class JobLogs:
    """Output of a job from chunk ``offset`` on: the text, where to read next, and whether more
    can come (``finished`` is true once the job ended and every chunk has been read)."""

    job_id: int
    text: str
    offset: int
    next_offset: int
    status: JobStatus
    finished: bool


def read_logs(
    session: Session,
    project: str,
    job_id: int | str,
    offset: int = 0,
    *,
    limit: int = MAX_LOG_CHUNKS,
) -> JobLogs:
    """The job's output from chunk ``offset`` on (at most ``limit`` chunks)."""
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidInput(f"offset must be zero or more, got {offset!r}", field="offset")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LOG_CHUNKS:
        raise InvalidInput(f"limit must be 1 to {MAX_LOG_CHUNKS}, got {limit!r}", field="limit")
    row = job_row(session, project, job_id)
    status = JobStatus(row.status)  # read before the chunks: a job ended then has them all
    chunks = session.execute(
        select(TrainingJobLogRow.seq, TrainingJobLogRow.text)
        .where(TrainingJobLogRow.job_id == row.id, TrainingJobLogRow.seq >= offset)
        .order_by(TrainingJobLogRow.seq)
        .limit(limit)
    ).all()
    next_offset = chunks[-1][0] + 1 if chunks else offset
    more = len(chunks) == limit
    return JobLogs(
        job_id=row.id,
        text="".join(text for _, text in chunks),
        offset=offset,
        next_offset=next_offset,
        status=status,
        finished=status.is_finished and not more,
    )


@dataclass(frozen=True, slots=True)
class LogTail:
    """The end of a job's output (what a page shows first) and where more output starts."""

    text: str
    truncated: bool
    next_offset: int


def log_tail(session: Session, project: str, job_id: int | str, max_chars: int) -> LogTail:
    """The newest chunks of the job's output, up to about ``max_chars`` characters."""
    row = job_row(session, project, job_id)
    kept: list[str] = []
    size = 0
    next_offset: int | None = None
    truncated = False
    for seq, text in session.execute(
        select(TrainingJobLogRow.seq, TrainingJobLogRow.text)
        .where(TrainingJobLogRow.job_id == row.id)
        .order_by(TrainingJobLogRow.seq.desc())
        .limit(_TAIL_CHUNKS)
    ):
        if next_offset is None:
            next_offset = seq + 1
        if size + len(text) > max_chars:
            truncated = True
            if not kept:
                kept.append(text[-max_chars:])
            break
        kept.append(text)
        size += len(text)
    return LogTail("".join(reversed(kept)), truncated, next_offset or 0)
