"""Kiln's artifact store: content-addressed blobs over a local folder or fsspec.

Every domain keeps its bytes here (model files, dataset versions, plots) and
its records in the metadata store, which refers to the bytes by digest::

    ArtifactStore                    _store.py: the public verbs
      │   put_bytes / put_file / put_stream ──► Blob(digest, size)
      │   open / read_bytes / copy_to / export / exists / size / delete
      │   digests / modified / cleanup_temporaries
      │
      │ keys "blobs/sha256/ab/cd/<digest>", temporaries under "tmp/"
      ▼
    ArtifactBackend (ABC)            _backend.py: a few storage primitives,
      ├── LocalArtifactBackend       _local.py    and open_backend(location),
      └── FsspecArtifactBackend      _fsspec.py   which picks one of these

    validate_artifact_path, safe_join    _paths.py: user-given relative paths
                                         ("model/model.json"), refused when
                                         they could escape their folder

The store hashes while it streams, writes a temporary and then publishes it
atomically, so readers and crashed writers never see a partial blob. Logical
paths are not part of the blob store (blobs have only digests); they belong
to the records that point at blobs, and the validator guards them wherever
they meet a filesystem: :meth:`ArtifactStore.export`, run artifacts, the
MLflow artifact proxy. fsspec is imported only when an fsspec URL is used.
"""

from __future__ import annotations

from kiln.artifacts._backend import ArtifactBackend, open_backend
from kiln.artifacts._fsspec import FsspecArtifactBackend
from kiln.artifacts._local import LocalArtifactBackend
from kiln.artifacts._paths import safe_join, validate_artifact_path
from kiln.artifacts._store import ArtifactStore, Blob, Readable

__all__ = [
    "ArtifactBackend",
    "ArtifactStore",
    "Blob",
    "FsspecArtifactBackend",
    "LocalArtifactBackend",
    "Readable",
    "open_backend",
    "safe_join",
    "validate_artifact_path",
]
