"""Garbage collection of the artifact store: ``kiln gc``.

Blobs are content-addressed and shared by every project, and records name
them by digest; once the last record naming a blob is gone (a run purged, a
model version deleted), the blob is garbage. This package finds it::

    collect(context, dry_run=True, grace=24 h)     _collect.py: the steps, the
      │   ──► GcReport (garbage, young, deleted,                safety checks,
      │        missing, stale cache entries)                    the report
      ▼
    referenced_digests(session, store, materializers)   _references.py: every
        REFERENCE_COLUMNS / NON_REFERENCE_COLUMNS       text column classified;
                                                        index blobs followed

Why a package of its own, on the floor of ``kiln.migration``: it reads the
rows of every domain (all of them are in ``kiln.db.tables``) and asks the
materializers of ``kiln.pipelines``, the checkpoint formats of
``kiln.training`` and the manifest format of ``kiln.models`` which blobs a
stored value needs, so it sits above them; the CLI (``kiln gc``) and later
an admin endpoint of the server are thin adapters above it. Like
``kiln db upgrade`` it needs the stores themselves, not a server: whoever
holds the store's credentials is its administrator.
"""

from __future__ import annotations

from kiln.gc._collect import DEFAULT_GRACE, GcBlob, GcReport, Phase, Progress, collect
from kiln.gc._references import (
    NON_REFERENCE_COLUMNS,
    REFERENCE_COLUMNS,
    References,
    referenced_digests,
)

__all__ = [
    "DEFAULT_GRACE",
    "NON_REFERENCE_COLUMNS",
    "REFERENCE_COLUMNS",
    "GcBlob",
    "GcReport",
    "Phase",
    "Progress",
    "References",
    "collect",
    "referenced_digests",
]
