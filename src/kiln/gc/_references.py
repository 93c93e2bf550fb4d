"""What the records reference: every blob digest any row of the metadata store names.

Every text column of every table is classified here, either in
:data:`REFERENCE_COLUMNS` (it names blobs, and :func:`referenced_digests`
reads it) or in :data:`NON_REFERENCE_COLUMNS` (it never names a blob, with the
reason). ``tests/gc/test_references.py`` fails when a table gains a text
column that is in neither, so a new kind of reference cannot be forgotten.

Some blobs name other blobs: a step output stored by the ``kiln_model``
materializer is an index blob listing one blob per model file, and a model
version's ``kiln-model.yaml`` lists its files' digests. Those are followed:
the materializer's own :meth:`~kiln.pipelines.Materializer.blobs` says what a
stored output needs (third-party materializers included), a checkpoint's
format is asked the same way (``kiln.training``'s checkpoint formats are
materializers too), and the manifest is parsed. When an output's materializer
is not installed here, or its index cannot be read, nothing can tell which
blobs it needs, so :func:`referenced_digests` raises
:class:`~kiln.errors.Conflict` instead of guessing: a collection that deletes
nothing is always safe.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select, text

from kiln.db.tables import (
    AlertRow,
    CheckpointRow,
    DatasetVersionRow,
    LoggedModelArtifactRow,
    ModelVersionRow,
    MonitorResultRow,
    PipelineRunRow,
    PredictionBatchRow,
    ReferenceProfileRow,
    RunArtifactRow,
    StepCacheRow,
    StepRunRow,
)
from kiln.errors import Conflict, KilnError
from kiln.gc._non_references import NON_REFERENCE_COLUMNS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from kiln.artifacts import ArtifactStore
    from kiln.pipelines import Materializers

__all__ = [
    "NON_REFERENCE_COLUMNS",
    "REFERENCE_COLUMNS",
    "References",
    "referenced_digests",
]

#: ``table.column`` → what the blobs it names are. :func:`referenced_digests` reads each.
REFERENCE_COLUMNS: dict[str, str] = {
    "run_artifacts.digest": "files logged to runs (deleted runs too, until purged)",
    "logged_model_artifacts.digest": "files of MLflow 3 logged models (deleted ones too)",
    "data_dataset_versions.blobs": "the Parquet blobs of dataset versions (JSON list)",
    "step_runs.outputs": "step outputs, with every blob their materializer needs",
    "step_runs.inputs": "the upstream outputs a step read (JSON of digests)",
    "step_runs.params": "any digest named in a step's parameters",
    "step_runs.stdout_digest": "a step's whole standard output, when it was long",
    "step_runs.stderr_digest": "a step's whole standard error, when it was long",
    "step_cache.outputs": "cached step outputs, with every blob their materializer needs",
    "pipeline_runs.params": "any digest named in a pipeline's parameters",
    "alerts.report_digest": "the readable report of an alert (a validation report page)",
    "alerts.details": "any digest named in an alert's evidence",
    "model_versions.manifest_sha256": "a model version's kiln-model.yaml and the files it lists",
    "prediction_batches.digest": "the Parquet blobs of the prediction log",
    "reference_profiles.digest": "the sketches of a monitoring reference profile (JSON)",
    "monitor_results.digest": "the report of one evaluated monitor window (JSON)",
    "checkpoints.digest": "training checkpoints, with every blob their format needs",
}

#: Text columns that never name a blob, by table, and why (see the module docstring).

_DIGEST = re.compile(r"[0-9a-f]{64}")
_DIGEST_IN_TEXT = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
#: Manifests larger than this are not read (a kiln-model.yaml is a few kilobytes).
MANIFEST_MAX_BYTES = 16 << 20
#: Rows fetched per round trip from the big tables.
_BATCH = 10_000

#: ``progress(done, total)`` after each source of references is read.
SourceProgress = Callable[[int, int], None]


@dataclass
class References:
    """The digests the records name, what named them, and what could not be followed.

    ``digests`` is everything to keep. ``expected`` is the part that should be
    in the store (a version registered from a folder records the digest of a
    manifest that is not). ``by_source`` counts distinct digests per
    :data:`REFERENCE_COLUMNS` entry; ``cache_entries`` lists each step cache
    entry's blobs, to tell which entries can no longer be hits. ``warnings``
    say which references could only be kept, not followed.
    """

    digests: set[str] = field(default_factory=set)
    expected: set[str] = field(default_factory=set)
    by_source: dict[str, int] = field(default_factory=dict)
    cache_entries: list[frozenset[str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, source: str, digests: Iterable[str], *, expected: bool = True) -> None:
        found = {digest for digest in digests if _DIGEST.fullmatch(digest)}
        self.digests |= found
        if expected:
            self.expected |= found
        self.by_source[source] = self.by_source.get(source, 0) + len(found)


def referenced_digests(
    session: Session,
    store: ArtifactStore,
    materializers: Materializers,
    *,
    progress: SourceProgress | None = None,
) -> References:
    """Every digest named by any record of any project, in one consistent snapshot.

    Call it in a read-only session (``db.read``): on PostgreSQL the
    transaction is made REPEATABLE READ, and SQLite's read transaction in WAL
    mode is a snapshot already, so a reference moving from one table to
    another while this runs is seen in one of them.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
    references = References()
    follower = _Follower(store, materializers)
    readers: list[Callable[[Session, References, _Follower], None]] = [
        _run_artifacts,
        _logged_model_artifacts,
        _dataset_versions,
        _step_runs,
        _step_cache,
        _pipeline_runs,
        _alerts,
        _model_versions,
        _prediction_batches,
        _monitoring,
        _checkpoints,
    ]
    for done, reader in enumerate(readers, start=1):
        reader(session, references, follower)
        if progress is not None:
            progress(done, len(readers))
    return references


def _scalars(session: Session, statement: Select[Any]) -> Iterator[Any]:
    # Closed on the way out, even when the reader stops early: on PostgreSQL
    # yield_per reads through a server-side cursor.
    with session.execute(statement.execution_options(yield_per=_BATCH)) as result:
        yield from result.scalars()


def _rows(session: Session, statement: Select[*tuple[Any, ...]]) -> Iterator[Any]:
    with session.execute(statement.execution_options(yield_per=_BATCH)) as result:
        yield from result


def _run_artifacts(session: Session, refs: References, _: _Follower) -> None:
    refs.add("run_artifacts.digest", _scalars(session, select(RunArtifactRow.digest).distinct()))


def _logged_model_artifacts(session: Session, refs: References, _: _Follower) -> None:
    statement = select(LoggedModelArtifactRow.digest).distinct()
    refs.add("logged_model_artifacts.digest", _scalars(session, statement))


def _dataset_versions(session: Session, refs: References, _: _Follower) -> None:
    digests: set[str] = set()
    for blobs in _scalars(session, select(DatasetVersionRow.blobs)):
        digests.update(str(blob["digest"]) for blob in json.loads(blobs))
    refs.add("data_dataset_versions.blobs", digests)


def _step_runs(session: Session, refs: References, follower: _Follower) -> None:
    statement = select(
        StepRunRow.id,
        StepRunRow.outputs,
        StepRunRow.inputs,
        StepRunRow.params,
        StepRunRow.stdout_digest,
        StepRunRow.stderr_digest,
    )
    outputs: set[str] = set()
    inputs: set[str] = set()
    params: set[str] = set()
    stdout: set[str] = set()
    stderr: set[str] = set()
    for row in _rows(session, statement):
        outputs |= follower.outputs(row.outputs, f"step run #{row.id}")
        inputs.update(_digests_in(row.inputs))
        params.update(_digests_in(row.params))
        if row.stdout_digest:
            stdout.add(row.stdout_digest)
        if row.stderr_digest:
            stderr.add(row.stderr_digest)
    refs.add("step_runs.outputs", outputs)
    refs.add("step_runs.inputs", inputs)
    refs.add("step_runs.params", params, expected=False)
    refs.add("step_runs.stdout_digest", stdout)
    refs.add("step_runs.stderr_digest", stderr)


def _step_cache(session: Session, refs: References, follower: _Follower) -> None:
    statement = select(StepCacheRow.project_id, StepCacheRow.key, StepCacheRow.outputs)
    digests: set[str] = set()
    for row in _rows(session, statement):
        blobs = follower.outputs(row.outputs, f"step cache entry {row.key}")
        refs.cache_entries.append(frozenset(blobs))
        digests |= blobs
    refs.add("step_cache.outputs", digests)


def _pipeline_runs(session: Session, refs: References, _: _Follower) -> None:
    digests: set[str] = set()
    for params in _scalars(session, select(PipelineRunRow.params)):
        digests.update(_digests_in(params))
    refs.add("pipeline_runs.params", digests, expected=False)


def _alerts(session: Session, refs: References, _: _Follower) -> None:
    reports: set[str] = set()
    details: set[str] = set()
    for row in _rows(session, select(AlertRow.report_digest, AlertRow.details)):
        if row.report_digest:
            reports.add(row.report_digest)
        details.update(_digests_in(row.details))
    refs.add("alerts.report_digest", reports)
    refs.add("alerts.details", details, expected=False)


def _model_versions(session: Session, refs: References, follower: _Follower) -> None:
    statement = select(ModelVersionRow.manifest_sha256, ModelVersionRow.source).where(
        ModelVersionRow.manifest_sha256 != ""
    )
    manifests: dict[str, bool] = {}
    for row in _rows(session, statement):
        in_store = row.source.startswith("runs:/")
        manifests[row.manifest_sha256] = manifests.get(row.manifest_sha256, False) or in_store
    kept: set[str] = set()
    expected: set[str] = set()
    for manifest, in_store in manifests.items():
        files = follower.manifest(manifest, refs.warnings)
        kept |= files
        if in_store:
            expected |= files
    refs.add("model_versions.manifest_sha256", expected)
    refs.add("model_versions.manifest_sha256", kept - expected, expected=False)


def _prediction_batches(session: Session, refs: References, _: _Follower) -> None:
    statement = select(PredictionBatchRow.digest).distinct()
    refs.add("prediction_batches.digest", _scalars(session, statement))


def _monitoring(session: Session, refs: References, _: _Follower) -> None:
    profiles = select(ReferenceProfileRow.digest).distinct()
    refs.add("reference_profiles.digest", _scalars(session, profiles))
    results = select(MonitorResultRow.digest).distinct()
    refs.add("monitor_results.digest", _scalars(session, results))


def _checkpoints(session: Session, refs: References, follower: _Follower) -> None:
    from kiln.training._checkpoint_formats import checkpoint_formats

    formats = _Follower(follower.store, checkpoint_formats(follower.materializers))
    statement = select(CheckpointRow.run_id, CheckpointRow.step, CheckpointRow.digest)
    digests: set[str] = set()
    for row in _rows(session, statement.add_columns(CheckpointRow.format)):
        owner = f"the checkpoint at step {row.step} of run {row.run_id}"
        digests |= formats.stored(row.format, row.digest, owner)
    refs.add("checkpoints.digest", digests)


def _digests_in(document: str | None) -> Iterator[str]:
    """Every digest-shaped string in a free-form text or JSON document."""
    if document:
        yield from _DIGEST_IN_TEXT.findall(document)


class _Follower:
    """Follows blobs that name other blobs, each once."""

    def __init__(self, store: ArtifactStore, materializers: Materializers) -> None:
        self.store = store
        self.materializers = materializers
        self._outputs: dict[tuple[str, str], frozenset[str]] = {}

    def outputs(self, document: str, owner: str) -> set[str]:
        """The blobs the outputs in ``document`` (a JSON list of output refs) need."""
        found: set[str] = set()
        for output in json.loads(document or "[]"):
            digest, name = str(output["digest"]), str(output["materializer"])
            found |= self.stored(name, digest, f"the output {digest} of {owner}")
        return found

    def stored(self, name: str, digest: str, owner: str) -> frozenset[str]:
        """The blobs a value written by materializer ``name`` under ``digest`` needs."""
        key = (name, digest)
        if key not in self._outputs:
            self._outputs[key] = frozenset(self._blobs(name, digest, owner))
        return self._outputs[key]

    def _blobs(self, name: str, digest: str, owner: str) -> list[str]:
        try:
            materializer = self.materializers.get(name)
            return [digest, *materializer.blobs(self.store, digest)]
        except Exception as error:  # any failure means the needed blobs are unknown
            detail = error.message if isinstance(error, KilnError) else repr(error)
            raise Conflict(
                f"cannot tell which blobs {owner} needs: its {name!r} materializer "
                f"failed ({detail}); nothing was deleted. Install the "
                "package providing the materializer, or repair the store, then run gc again"
            ) from error

    def manifest(self, digest: str, warnings: list[str]) -> set[str]:
        """The manifest's digest and those of the files it lists, as far as it is readable."""
        from kiln.models import Manifest

        found = {digest}
        try:
            if not self.store.exists(digest):
                return found
            if self.store.size(digest) > MANIFEST_MAX_BYTES:
                warnings.append(f"model manifest {digest} is too large to read; kept as is")
                return found
            manifest = Manifest.from_yaml(self.store.read_bytes(digest).decode("utf-8"))
        except (KilnError, OSError, UnicodeDecodeError) as error:
            detail = error.message if isinstance(error, KilnError) else str(error)
            warnings.append(f"model manifest {digest} is not readable ({detail}); kept as is")
            return found
        found.update(entry.sha256 for entry in manifest.files)
        return found
