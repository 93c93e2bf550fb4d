"""``collect``: find the blobs no record references, and remove the old ones.

The order of the steps is what makes it safe next to running writers:

1. read every reference, in one snapshot of the metadata store;
2. list the blobs, and set aside those referenced;
3. of the rest, keep every blob younger than the grace period, or of unknown
   age: a writer stores its blobs *before* it commits the record naming them,
   so a young unreferenced blob is most likely about to be referenced. The
   store touches a blob it is asked to write again (where the backend can),
   so content that is deduplicated onto an old blob is young again too;
4. only when deleting: read the references once more, and for each blob
   still unreferenced, check its age again right before removing it.

A blob is removed only when both snapshots miss it and it stayed old
throughout. Nothing is removed in a dry run, the default.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.gc._references import References, referenced_digests

if TYPE_CHECKING:
    from kiln.artifacts import ArtifactStore
    from kiln.context import Context
    from kiln.pipelines import Materializers

__all__ = ["DEFAULT_GRACE", "GcBlob", "GcReport", "Phase", "Progress", "collect"]

#: How old an unreferenced blob must be before it counts as garbage.
DEFAULT_GRACE = timedelta(hours=24)

#: ``references`` (reading the records), ``listing`` (the store), ``checking``
#: (ages of unreferenced blobs), ``deleting``.
Phase = Literal["references", "listing", "checking", "deleting"]
#: ``progress(phase, done, total)``; ``total`` is None while the listing runs.
Progress = Callable[[Phase, int, int | None], None]

_LISTING_EVERY = 1000


@dataclass(frozen=True, slots=True)
class GcBlob:
    """An unreferenced blob: its digest, size, and when it was last written (None: unknown)."""

    digest: str
    size: int
    modified: datetime | None


@dataclass(frozen=True)
class GcReport:
    """What one collection found and did.

    ``garbage`` are the unreferenced blobs older than the grace period (what
    ``--delete`` removes); ``young`` the unreferenced ones it spares. In a
    dry run ``deleted`` is empty. ``missing`` are digests records expect in
    the store that are not there; ``stale_cache_entries`` counts step cache
    entries that can no longer be hits because a blob of theirs is gone (they
    are left in place: a miss recomputes them).
    """

    dry_run: bool
    grace_seconds: float
    started_at: datetime
    duration_seconds: float
    scanned: int
    referenced: int
    references_by_source: dict[str, int]
    garbage: tuple[GcBlob, ...]
    young: tuple[GcBlob, ...]
    deleted: tuple[str, ...]
    deleted_bytes: int
    kept_at_delete: tuple[str, ...]
    missing: tuple[str, ...]
    stale_cache_entries: int
    removed_temporaries: int
    warnings: tuple[str, ...] = field(default=())

    @property
    def garbage_bytes(self) -> int:
        return sum(blob.size for blob in self.garbage)

    @property
    def young_bytes(self) -> int:
        return sum(blob.size for blob in self.young)

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON values (``kiln gc --json``)."""

        def blobs(items: tuple[GcBlob, ...]) -> list[dict[str, Any]]:
            return [
                {
                    "digest": blob.digest,
                    "size": blob.size,
                    "modified": blob.modified.isoformat() if blob.modified else None,
                }
                for blob in items
            ]

        return {
            "dry_run": self.dry_run,
            "grace_seconds": self.grace_seconds,
            "started_at": self.started_at.isoformat(),
            "duration_seconds": round(self.duration_seconds, 3),
            "scanned": self.scanned,
            "referenced": self.referenced,
            "references_by_source": dict(self.references_by_source),
            "garbage": {"count": len(self.garbage), "bytes": self.garbage_bytes},
            "young": {"count": len(self.young), "bytes": self.young_bytes},
            "deleted": {"count": len(self.deleted), "bytes": self.deleted_bytes},
            "garbage_blobs": blobs(self.garbage),
            "young_blobs": blobs(self.young),
            "deleted_digests": list(self.deleted),
            "kept_at_delete": list(self.kept_at_delete),
            "missing": list(self.missing),
            "stale_cache_entries": self.stale_cache_entries,
            "removed_temporaries": self.removed_temporaries,
            "warnings": list(self.warnings),
        }


def collect(
    context: Context,
    *,
    dry_run: bool = True,
    grace: timedelta = DEFAULT_GRACE,
    progress: Progress | None = None,
    allow_no_references: bool = False,
) -> GcReport:
    """Find the blobs of ``context``'s artifact store that no record references.

    Every project's records count: blobs are shared between projects. With
    ``dry_run=False`` the unreferenced blobs older than ``grace`` are removed,
    and so are temporaries that crashed writers left behind (older than
    ``grace`` too). When the metadata store references no blob at all while
    the artifact store holds some, deleting raises
    :class:`~kiln.errors.Conflict` (most likely the wrong metadata store)
    unless ``allow_no_references`` is set. Raises ``Conflict`` as well when a
    stored step output's blobs cannot be told (see :mod:`kiln.gc._references`).
    """
    from kiln.pipelines import Materializers

    grace_seconds = grace.total_seconds()
    if grace_seconds < 0:
        raise InvalidInput(f"grace must be zero or more, got {grace}", field="grace")
    started_at = datetime.now(UTC)
    clock = time.perf_counter()
    store = context.artifacts
    materializers = Materializers.discover()

    refs = _references(context, store, materializers, progress)
    listed: list[str] = []
    for digest in store.digests():
        listed.append(digest)
        if progress is not None and len(listed) % _LISTING_EVERY == 0:
            progress("listing", len(listed), None)
    if progress is not None:
        progress("listing", len(listed), len(listed))

    stored = set(listed)
    unreferenced = [digest for digest in listed if digest not in refs.digests]
    cutoff = time.time() - grace_seconds
    garbage: list[GcBlob] = []
    young: list[GcBlob] = []
    for done, digest in enumerate(unreferenced, start=1):
        blob = _describe(store, digest)
        if blob is not None:
            (garbage if _is_old(blob, cutoff, grace_seconds) else young).append(blob)
        if progress is not None:
            progress("checking", done, len(unreferenced))

    deleted: list[str] = []
    deleted_bytes = 0
    kept: list[str] = []
    removed_temporaries = 0
    if not dry_run:
        if garbage and not refs.digests and not allow_no_references:
            masked = context.settings.masked()["database_url"]
            raise Conflict(
                f"the metadata store {masked!r} references no blob, yet the artifact "
                f"store {store.backend.location!r} holds {len(listed)}: is this the metadata "
                "store that goes with it? Nothing was deleted; pass allow_no_references "
                "(`kiln gc --delete --allow-no-references`) if every record is really gone"
            )
        again = _references(context, store, materializers, None).digests if garbage else set()
        for done, blob in enumerate(garbage, start=1):
            if blob.digest in again or not _still_old(store, blob.digest, cutoff, grace_seconds):
                kept.append(blob.digest)
            elif _delete(store, blob.digest):
                deleted.append(blob.digest)
                deleted_bytes += blob.size
            if progress is not None:
                progress("deleting", done, len(garbage))
        removed_temporaries = store.cleanup_temporaries(older_than_seconds=grace_seconds)

    stale = sum(1 for entry in refs.cache_entries if not entry <= stored)
    return GcReport(
        dry_run=dry_run,
        grace_seconds=grace_seconds,
        started_at=started_at,
        duration_seconds=time.perf_counter() - clock,
        scanned=len(listed),
        referenced=len(stored & refs.digests),
        references_by_source=dict(refs.by_source),
        garbage=tuple(garbage),
        young=tuple(young),
        deleted=tuple(deleted),
        deleted_bytes=deleted_bytes,
        kept_at_delete=tuple(kept),
        missing=tuple(sorted(refs.expected - stored)),
        stale_cache_entries=stale,
        removed_temporaries=removed_temporaries,
        warnings=tuple(refs.warnings),
    )


def _references(
    context: Context,
    store: ArtifactStore,
    materializers: Materializers,
    progress: Progress | None,
) -> References:
    def report(done: int, total: int) -> None:
        if progress is not None:
            progress("references", done, total)

    return context.db.read(referenced_digests, store, materializers, progress=report)


def _describe(store: ArtifactStore, digest: str) -> GcBlob | None:
    """Size and age of a listed blob; None when it is gone already."""
    try:
        size = store.size(digest)
        modified = store.modified(digest)
    except NotFound:
        return None
    when = datetime.fromtimestamp(modified, UTC) if modified is not None else None
    return GcBlob(digest, size, when)


def _is_old(blob: GcBlob, cutoff: float, grace_seconds: float) -> bool:
    if blob.modified is None:
        return grace_seconds == 0  # age unknown: only "no grace at all" may take it
    return blob.modified.timestamp() <= cutoff


def _still_old(store: ArtifactStore, digest: str, cutoff: float, grace_seconds: float) -> bool:
    try:
        modified = store.modified(digest)
    except NotFound:
        return False
    if modified is None:
        return grace_seconds == 0
    return modified <= cutoff


def _delete(store: ArtifactStore, digest: str) -> bool:
    try:
        store.delete(digest)
    except NotFound:  # another collection got there first
        return False
    return True
