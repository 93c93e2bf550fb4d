"""What the MLflow import's parts share: source tags, the summary, key and name rules."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.artifacts import validate_artifact_path
from kiln.errors import InvalidInput, KilnError
from kiln.tracking import _experiments, _runs
from kiln.tracking._entities import RunArtifact
from kiln.tracking._names import (
    MAX_NAME_LENGTH,
    check_key,
)

if TYPE_CHECKING:
    from kiln.context import Context

#: Run tag holding the MLflow run id an imported run was copied from.
SOURCE_RUN_TAG = "mlflow.source.run_id"
#: Run tag holding the tracking URI it was imported from.
SOURCE_URI_TAG = "kiln.import.source"
#: Model version tag holding the MLflow version number it was copied from.
SOURCE_VERSION_TAG = "kiln.import.version"
#: Logged model tag holding the MLflow logged model id it was copied from.
SOURCE_MODEL_TAG = "kiln.import.model_id"
#: The actor recorded on alias events written by the import.
ACTOR = "import"
#: Metric points per transaction statement (``log_batch``'s limit).
CHUNK = _runs.MAX_BATCH_METRICS

#: ``progress(done, total, label)`` is called before and after each run.
Progress = Callable[[int, int, str], None]

_NOT_KEY = re.compile(r"[^A-Za-z0-9_\-. /]")


@dataclass
class ImportSummary:
    """What one import did (or, with ``dry_run``, would do)."""

    source: str
    dry_run: bool = False
    experiments_created: int = 0
    experiments_existing: int = 0
    runs_imported: int = 0
    runs_updated: int = 0
    runs_skipped: int = 0
    metric_points: int = 0
    params: int = 0
    tags: int = 0
    artifacts: int = 0
    artifact_bytes: int = 0
    models_created: int = 0
    versions_imported: int = 0
    versions_skipped: int = 0
    aliases_set: int = 0
    aliases_kept: int = 0
    dataset_inputs: int = 0
    logged_models_imported: int = 0
    logged_models_updated: int = 0
    logged_models_skipped: int = 0
    logged_model_files: int = 0
    logged_model_bytes: int = 0
    logged_model_metrics: int = 0
    #: MLflow keys Kiln refuses, mapped to the key they were stored under.
    renamed_keys: dict[str, str] = field(default_factory=dict)
    #: MLflow keys, names and paths that could not be stored (with the reason).
    skipped: list[str] = field(default_factory=list)
    #: MLflow run id -> Kiln run id, for every run seen (new or already imported).
    run_ids: dict[str, str] = field(default_factory=dict)
    #: MLflow logged model id -> Kiln logged model id, for every model seen.
    logged_model_ids: dict[str, str] = field(default_factory=dict)

    @property
    def nothing_new(self) -> bool:
        return not (
            self.experiments_created
            or self.runs_imported
            or self.runs_updated
            or self.logged_models_imported
            or self.logged_models_updated
            or self.models_created
            or self.versions_imported
            or self.aliases_set
        )

    def rows(self) -> list[tuple[str, str]]:
        """``(label, value)`` pairs for a summary table."""
        return [
            ("experiments created", str(self.experiments_created)),
            ("experiments already present", str(self.experiments_existing)),
            ("runs imported", str(self.runs_imported)),
            ("runs updated (were running)", str(self.runs_updated)),
            ("runs skipped (already imported)", str(self.runs_skipped)),
            ("metric points", f"{self.metric_points:,}"),
            ("params", str(self.params)),
            ("tags", str(self.tags)),
            ("artifacts", f"{self.artifacts} ({self.artifact_bytes:,} bytes)"),
            ("dataset inputs", str(self.dataset_inputs)),
            ("logged models imported", str(self.logged_models_imported)),
            ("logged models updated (were pending)", str(self.logged_models_updated)),
            ("logged models skipped (already imported)", str(self.logged_models_skipped)),
            (
                "logged model files",
                f"{self.logged_model_files} ({self.logged_model_bytes:,} bytes)",
            ),
            ("logged model metric points", f"{self.logged_model_metrics:,}"),
            ("registered models created", str(self.models_created)),
            ("model versions imported", str(self.versions_imported)),
            ("model versions skipped (already imported)", str(self.versions_skipped)),
            ("aliases set", str(self.aliases_set)),
            ("aliases kept (already set in Kiln)", str(self.aliases_kept)),
            ("keys renamed", str(len(self.renamed_keys))),
            ("items skipped", str(len(self.skipped))),
        ]


# -- mapping MLflow names onto Kiln's rules ---------------------------------------------


def _valid_key(key: str) -> bool:
    try:
        check_key(key)
    except InvalidInput:
        return False
    return True


class _Keys:
    """Maps one run's (or model's) MLflow keys onto Kiln keys, recording what changed."""

    def __init__(self, summary: ImportSummary, where: str) -> None:
        self.summary = summary
        self.where = where

    def map(self, key: str, taken: set[str]) -> str | None:
        if _valid_key(key):
            return key
        mapped = _NOT_KEY.sub("_", key).strip("/")
        mapped = re.sub(r"/+", "/", mapped)
        mapped = "/".join("_" if part in (".", "..") else part for part in mapped.split("/"))
        if _valid_key(mapped) and mapped not in taken:
            self.summary.renamed_keys[key] = mapped
            return mapped
        self.summary.skipped.append(f"{self.where}: key {key!r} (not a valid Kiln key)")
        return None

    def items(self, values: dict[str, str], limit: int, what: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        taken = set(values)
        for key, value in sorted(values.items()):
            mapped = self.map(key, taken)
            if mapped is None:
                continue
            text = "" if value is None else str(value)
            if len(text) > limit:
                self.summary.skipped.append(
                    f"{self.where}: {what} {key!r} ({len(text)} characters; the limit is {limit})"
                )
                continue
            out.append((mapped, text))
        return out


def _run_name(name: str | None) -> str | None:
    if not name:
        return None
    text = "".join(c for c in name if c.isprintable()).replace("/", "-").replace("\\", "-")
    text = text.strip()[:MAX_NAME_LENGTH]
    return text if text.strip() and text not in (".", "..") else None


def experiment_name(name: str) -> str:
    """The Kiln name of an MLflow experiment.

    MLflow's ``Default`` becomes Kiln's ``default``; ``/`` and ``\\`` become ``-``.
    """
    if name == "Default":
        return _experiments.DEFAULT_EXPERIMENT
    mapped = _run_name(name.strip("/"))
    if mapped is None:
        raise InvalidInput(f"MLflow experiment name {name!r} cannot be mapped to a Kiln name")
    return mapped


def store_folder(
    context: Context, root: Path, summary: ImportSummary, where: str
) -> list[RunArtifact]:
    """Put every file under ``root`` into Kiln's artifact store; paths Kiln refuses are skipped."""
    files: list[RunArtifact] = []
    for directory, _dirs, names in os.walk(root):
        for name in sorted(names):
            local = Path(directory) / name
            path = local.relative_to(root).as_posix()
            try:
                validate_artifact_path(path)
            except KilnError:
                summary.skipped.append(f"{where}: artifact {path!r} (invalid path)")
                continue
            blob = context.artifacts.put_file(local)
            files.append(RunArtifact(path, blob.digest, blob.size))
    return sorted(files, key=lambda f: f.path)


# -- reading the source -----------------------------------------------------------------
