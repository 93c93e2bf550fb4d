"""Copy an MLflow tracking store and model registry into Kiln, idempotently.

The source is read with the stock ``mlflow.MlflowClient``, so any store MLflow
can open works: ``sqlite:///…``, ``postgresql://…``, ``file:…`` folders and
``http(s)://`` tracking servers. Each imported run carries the tag
``mlflow.source.run_id`` (the MLflow run id) and each imported version the tag
``kiln.import.version`` (its MLflow number); a later import looks these up and
adds only what is new. See docs/mlflow-import.md.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kiln.artifacts import validate_artifact_path
from kiln.db.tables import (
    ExperimentRow,
    ModelVersionRow,
    ModelVersionTagRow,
    ProjectRow,
    RegisteredModelRow,
    RunRow,
    RunTagRow,
)
from kiln.errors import InvalidInput, KilnError, NotFound
from kiln.registry import _aliases, _models, _versions
from kiln.registry._names import check_alias, check_model_name
from kiln.tracking import _artifacts, _experiments, _runs
from kiln.tracking._entities import Metric, Param, RunArtifact, RunStatus
from kiln.tracking._names import (
    MAX_NAME_LENGTH,
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
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
    #: MLflow keys Kiln refuses, mapped to the key they were stored under.
    renamed_keys: dict[str, str] = field(default_factory=dict)
    #: MLflow keys, names and paths that could not be stored (with the reason).
    skipped: list[str] = field(default_factory=list)
    #: MLflow run id -> Kiln run id, for every run seen (new or already imported).
    run_ids: dict[str, str] = field(default_factory=dict)

    @property
    def nothing_new(self) -> bool:
        return not (
            self.experiments_created
            or self.runs_imported
            or self.runs_updated
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


# -- reading the source -----------------------------------------------------------------


def _client(source_uri: str) -> Any:
    import mlflow

    if source_uri.startswith("file:") or "://" not in source_uri:
        # MLflow 3 refuses its file store unless asked; reading it to migrate is the point.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return mlflow.MlflowClient(tracking_uri=source_uri, registry_uri=source_uri)


def _pages(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


def _source_experiments(client: Any, names: Sequence[str] | None) -> list[Any]:
    from mlflow.entities import ViewType

    found = list(
        _pages(
            lambda token: client.search_experiments(
                view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token
            )
        )
    )
    if names is None:
        return sorted(found, key=lambda e: int(e.experiment_id) if e.experiment_id.isdigit() else 0)
    by_name = {e.name: e for e in found}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise NotFound(
            f"the MLflow store has no active experiment named {', '.join(map(repr, missing))}"
        )
    return [by_name[name] for name in dict.fromkeys(names)]


def _source_runs(client: Any, experiment_id: str) -> list[Any]:
    from mlflow.entities import ViewType

    runs = list(
        _pages(
            lambda token: client.search_runs(
                [experiment_id],
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=1000,
                order_by=["attributes.start_time ASC"],
                page_token=token,
            )
        )
    )
    # Parents before their children, so a child can point at its parent's Kiln run.
    ids = {run.info.run_id for run in runs}
    ordered: list[Any] = []
    placed: set[str] = set()
    pending = runs
    while pending:
        waiting = []
        for run in pending:
            parent = run.data.tags.get("mlflow.parentRunId")
            if parent is None or parent not in ids or parent in placed:
                ordered.append(run)
                placed.add(run.info.run_id)
            else:
                waiting.append(run)
        if len(waiting) == len(pending):  # a cycle cannot happen; keep going regardless
            ordered.extend(waiting)
            break
        pending = waiting
    return ordered


@dataclass
class _RunData:
    """One MLflow run, read and mapped, ready to be written in one transaction."""

    source_id: str
    name: str | None
    user: str
    status: RunStatus
    start_time: int | None
    end_time: int | None
    parent_source_id: str | None
    params: list[tuple[str, str]]
    tags: list[tuple[str, str]]
    metrics: list[Metric]
    artifacts: list[RunArtifact]


def _status(value: str) -> RunStatus:
    try:
        return RunStatus(value)
    except ValueError:
        return RunStatus.FINISHED


def _value(value: float) -> float:
    """MLflow's SQL stores save ±inf as ±max float: give the infinity back."""
    number = float(value)
    if abs(number) == sys.float_info.max:
        return math.copysign(math.inf, number)
    return number


def _read_run(
    client: Any, run: Any, summary: ImportSummary, put_artifacts: Callable[[str], list[RunArtifact]]
) -> _RunData:
    info, data = run.info, run.data
    keys = _Keys(summary, f"run {info.run_id}")
    params = keys.items(dict(data.params), MAX_PARAM_VALUE_LENGTH, "param")
    tags = keys.items(dict(data.tags), MAX_TAG_VALUE_LENGTH, "tag")
    metrics: list[Metric] = []
    metric_keys = set(data.metrics)
    for key in sorted(metric_keys):
        mapped = keys.map(key, metric_keys)
        if mapped is None:
            continue
        for point in client.get_metric_history(info.run_id, key):
            metrics.append(
                Metric(mapped, _value(point.value), int(point.step or 0), int(point.timestamp or 0))
            )
    return _RunData(
        source_id=info.run_id,
        name=_run_name(info.run_name or data.tags.get("mlflow.runName")),
        user=info.user_id or "",
        status=_status(info.status),
        start_time=info.start_time,
        end_time=info.end_time,
        parent_source_id=data.tags.get("mlflow.parentRunId"),
        params=params,
        tags=tags,
        metrics=metrics,
        artifacts=put_artifacts(info.run_id),
    )


def _artifact_uploader(
    client: Any, context: Context, summary: ImportSummary
) -> Callable[[str], list[RunArtifact]]:
    def upload(run_id: str) -> list[RunArtifact]:
        if not client.list_artifacts(run_id):
            return []
        with tempfile.TemporaryDirectory(prefix="kiln-mlflow-import-") as folder:
            root = Path(client.download_artifacts(run_id, "", folder))
            files: list[RunArtifact] = []
            for directory, _dirs, names in os.walk(root):
                for name in sorted(names):
                    local = Path(directory) / name
                    path = local.relative_to(root).as_posix()
                    try:
                        validate_artifact_path(path)
                    except KilnError:
                        summary.skipped.append(f"run {run_id}: artifact {path!r} (invalid path)")
                        continue
                    blob = context.artifacts.put_file(local)
                    files.append(RunArtifact(path, blob.digest, blob.size))
            return sorted(files, key=lambda f: f.path)

    return upload


# -- writing into Kiln ------------------------------------------------------------------


def _imported_runs(session: Session, project: str) -> dict[str, tuple[str, str]]:
    """MLflow run id -> (Kiln run id, Kiln status) of the runs imported before."""
    rows = session.execute(
        select(RunTagRow.value, RunRow.id, RunRow.status)
        .join(RunRow, RunRow.id == RunTagRow.run_id)
        .join(ExperimentRow, ExperimentRow.id == RunRow.experiment_id)
        .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
        .where(RunTagRow.key == SOURCE_RUN_TAG, ProjectRow.name == project)
    )
    return {value: (run_id, status) for value, run_id, status in rows}


def _log(session: Session, project: str, run_id: str, data: _RunData) -> None:
    for start in range(0, len(data.metrics), CHUNK):
        _runs.log_batch(session, project, run_id, metrics=data.metrics[start : start + CHUNK])
    _runs.log_batch(
        session,
        project,
        run_id,
        params=[Param(k, v) for k, v in data.params],
        tags=data.tags,
    )
    if data.artifacts:
        _artifacts.record_artifacts(session, project, run_id, data.artifacts)
    if data.status is not RunStatus.RUNNING:
        _runs.update_run(session, project, run_id, status=data.status, end_time=data.end_time)


def _create_run(
    session: Session,
    project: str,
    experiment_id: str,
    data: _RunData,
    parent_id: str | None,
    source_uri: str,
) -> str:
    run = _runs.create_run(
        session,
        project,
        experiment_id,
        name=data.name,
        parent_run_id=parent_id,
        start_time=data.start_time,
        tags={SOURCE_RUN_TAG: data.source_id, SOURCE_URI_TAG: source_uri},
        user=data.user,
    )
    _log(session, project, run.id, data)
    return run.id


def _resume_run(session: Session, project: str, run_id: str, data: _RunData) -> _RunData:
    """Add what a run imported while it was running has gained since; return the additions."""
    have = {
        (m.key, m.step, m.timestamp, "nan" if math.isnan(m.value) else m.value)
        for points in _runs.get_metric_histories(session, project, [run_id])
        .get(run_id, {})
        .values()
        for m in points
    }
    fresh = [
        m
        for m in data.metrics
        if (m.key, m.step, m.timestamp, "nan" if math.isnan(m.value) else m.value) not in have
    ]
    stored = _runs.get_run(session, project, run_id)
    params = [(k, v) for k, v in data.params if k not in stored.params]
    tags = [(k, v) for k, v in data.tags if stored.tags.get(k) != v]
    added = dataclasses.replace(data, metrics=fresh, params=params, tags=tags)
    _log(session, project, run_id, added)
    return added


def _count(summary: ImportSummary, data: _RunData) -> None:
    summary.metric_points += len(data.metrics)
    summary.params += len(data.params)
    summary.tags += len(data.tags)
    summary.artifacts += len(data.artifacts)
    summary.artifact_bytes += sum(a.size for a in data.artifacts)


def _experiment(context: Context, source: Any, summary: ImportSummary, dry_run: bool) -> str | None:
    name = experiment_name(source.name)
    project = context.settings.project
    try:
        found = context.db.read(_experiments.get_experiment_by_name, project, name)
    except NotFound:
        summary.experiments_created += 1
        if dry_run:
            return None

        def create(session: Session) -> str:
            keys = _Keys(summary, f"experiment {source.name!r}")
            tags = dict(keys.items(dict(source.tags), MAX_TAG_VALUE_LENGTH, "tag"))
            return _experiments.create_experiment(
                session,
                project,
                name,
                description=source.tags.get("mlflow.note.content", ""),
                tags=tags,
            ).id

        return context.db.run(create)
    summary.experiments_existing += 1
    # Refuses a deleted experiment with a clear message (restore it first).
    return context.db.read(_experiments.ensure_experiment, project, found.name).id


def _import_runs(
    context: Context,
    client: Any,
    source_uri: str,
    experiments: list[Any],
    summary: ImportSummary,
    progress: Progress | None,
    dry_run: bool,
) -> None:
    project = context.settings.project
    imported = context.db.read(_imported_runs, project)
    summary.run_ids.update({source: kiln for source, (kiln, _) in imported.items()})
    plan: list[tuple[str | None, Any]] = []
    for source in experiments:
        experiment_id = _experiment(context, source, summary, dry_run)
        plan.extend((experiment_id, run) for run in _source_runs(client, source.experiment_id))
    upload = _artifact_uploader(client, context, summary)
    total = len(plan)
    for done, (experiment_id, run) in enumerate(plan):
        source_id = run.info.run_id
        label = f"{run.info.run_name or source_id}"
        if progress is not None:
            progress(done, total, label)
        existing = imported.get(source_id)
        if existing is not None and RunStatus(existing[1]).is_terminated:
            summary.runs_skipped += 1
            continue
        if dry_run:
            if existing is None:
                summary.runs_imported += 1
            else:
                summary.runs_updated += 1
            continue
        data = _read_run(client, run, summary, upload)
        if existing is not None:
            added = context.db.run(_resume_run, project, existing[0], data)
            summary.runs_updated += 1
            _count(summary, added)
            continue
        assert experiment_id is not None
        parent = summary.run_ids.get(data.parent_source_id or "")
        if parent is not None:
            data.tags = [(k, parent if k == "mlflow.parentRunId" else v) for k, v in data.tags]
        kiln_id = context.db.run(_create_run, project, experiment_id, data, parent, source_uri)
        summary.run_ids[source_id] = kiln_id
        summary.runs_imported += 1
        _count(summary, data)
    if progress is not None:
        progress(total, total, "done")


# -- the registry -----------------------------------------------------------------------

_RUN_ARTIFACT_SOURCE = re.compile(r"/(?P<run>[0-9a-f]{32})/artifacts/(?P<path>.+)$")


def _version_source(version: Any, run_ids: dict[str, str]) -> tuple[str, str | None]:
    """``(source, Kiln run id)`` of an MLflow version: ``runs:/`` when its run was imported."""
    source = str(version.source or "")
    kiln_run = run_ids.get(version.run_id or "")
    if kiln_run is None:
        return source, None
    path: str | None = None
    if source.startswith("runs:/"):
        _, _, rest = source[len("runs:/") :].partition("/")
        path = rest.strip("/")
    else:
        match = _RUN_ARTIFACT_SOURCE.search(source)
        if match is not None and match.group("run") == version.run_id:
            path = match.group("path").strip("/")
    if path:
        try:
            return f"runs:/{kiln_run}/{validate_artifact_path(path)}", kiln_run
        except KilnError:
            pass
    return source, kiln_run


def _imported_versions(session: Session, project: str, name: str) -> dict[int, int]:
    """MLflow version number -> Kiln version number for model ``name``."""
    rows = session.execute(
        select(ModelVersionTagRow.value, ModelVersionRow.version)
        .join(ModelVersionRow, ModelVersionRow.id == ModelVersionTagRow.version_id)
        .join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
        .join(ProjectRow, ProjectRow.id == RegisteredModelRow.project_id)
        .where(
            ModelVersionTagRow.key == SOURCE_VERSION_TAG,
            RegisteredModelRow.name == name,
            ProjectRow.name == project,
        )
    )
    return {int(value): version for value, version in rows if str(value).isdigit()}


def _ensure_model(
    session: Session, project: str, model: Any, tags: dict[str, str]
) -> tuple[bool, dict[int, int]]:
    try:
        _models.get_registered_model(session, project, model.name)
        created = False
    except NotFound:
        _models.create_registered_model(
            session, project, model.name, description=model.description or "", tags=tags
        )
        created = True
    return created, _imported_versions(session, project, model.name)


def _add_version(
    session: Session,
    project: str,
    name: str,
    number: int,
    source: str,
    run_id: str | None,
    description: str,
    user: str,
    tags: dict[str, str],
) -> int:
    # Keep MLflow's number when nothing in Kiln is in the way.
    session.execute(
        update(RegisteredModelRow)
        .where(
            RegisteredModelRow.name == name,
            RegisteredModelRow.project_id
            == select(ProjectRow.id).where(ProjectRow.name == project).scalar_subquery(),
            RegisteredModelRow.last_version < number - 1,
        )
        .values(last_version=number - 1)
    )
    return _versions.create_model_version(
        session,
        project,
        name,
        source,
        run_id=run_id,
        description=description,
        user=user,
        tags={**tags, SOURCE_VERSION_TAG: str(number)},
        require_manifest=False,
    ).version


def _set_alias(session: Session, project: str, name: str, alias: str, version: int) -> bool:
    """Set ``alias`` unless Kiln already has it; True when it was set."""
    try:
        _aliases.get_version_by_alias(session, project, name, alias)
        return False
    except NotFound:
        pass
    _aliases.set_alias(
        session,
        project,
        name,
        alias,
        version,
        actor=ACTOR,
        force=True,
        note="imported from MLflow",
    )
    return True


def _import_registry(
    context: Context,
    client: Any,
    summary: ImportSummary,
    selected_runs: set[str] | None,
    dry_run: bool,
) -> None:
    project = context.settings.project
    models = list(
        _pages(lambda token: client.search_registered_models(max_results=1000, page_token=token))
    )
    for listed in sorted(models, key=lambda m: m.name):
        model = client.get_registered_model(listed.name)
        where = f"model {model.name!r}"
        try:
            check_model_name(model.name)
        except InvalidInput:
            summary.skipped.append(f"{where}: not a valid Kiln model name")
            continue
        versions = _source_versions(client, model.name)
        if selected_runs is not None:
            versions = [v for v in versions if (v.run_id or "") in selected_runs]
            if not versions:
                continue
        tags = dict(_Keys(summary, where).items(dict(model.tags), MAX_TAG_VALUE_LENGTH, "tag"))
        if dry_run:
            try:
                context.db.read(_models.get_registered_model, project, model.name)
                have = context.db.read(_imported_versions, project, model.name)
            except NotFound:
                summary.models_created += 1
                have = {}
        else:
            created, have = context.db.run(_ensure_model, project, model, tags)
            summary.models_created += int(created)
        for version in versions:
            number = int(version.version)
            if number in have:
                summary.versions_skipped += 1
                continue
            summary.versions_imported += 1
            if dry_run:
                have[number] = number
                continue
            source, run_id = _version_source(version, summary.run_ids)
            version_tags = dict(
                _Keys(summary, f"{where} version {number}").items(
                    dict(version.tags or {}), MAX_TAG_VALUE_LENGTH, "tag"
                )
            )
            have[number] = context.db.run(
                _add_version,
                project,
                model.name,
                number,
                source,
                run_id,
                version.description or "",
                version.user_id or "",
                version_tags,
            )
        for alias, target in sorted((model.aliases or {}).items()):
            try:
                check_alias(alias)
            except InvalidInput:
                summary.skipped.append(f"{where}: alias {alias!r} (not a valid Kiln alias)")
                continue
            kiln_version = have.get(int(target))
            if kiln_version is None:
                if selected_runs is None:
                    summary.skipped.append(f"{where}: alias {alias!r} (version {target} missing)")
                continue
            if dry_run:
                summary.aliases_set += 1
                continue
            if context.db.run(_set_alias, project, model.name, alias, kiln_version):
                summary.aliases_set += 1
            else:
                summary.aliases_kept += 1


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def _source_versions(client: Any, name: str) -> list[Any]:
    def fetch(token: str | None) -> Any:
        return client.search_model_versions(
            f"name = '{_quote(name)}'", max_results=1000, page_token=token
        )

    return sorted(_pages(fetch), key=lambda v: int(v.version))


# -- the entry point --------------------------------------------------------------------


def import_mlflow(
    context: Context,
    source_uri: str,
    *,
    experiments: Sequence[str] | None = None,
    registry: bool = True,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportSummary:
    """Copy MLflow experiments, runs, artifacts and registry into ``context``'s project.

    ``experiments`` limits the import to those MLflow experiment names (and
    the registry to versions of their runs); ``dry_run`` counts what would be
    added without reading metric histories or artifacts and without writing.
    Running it again adds only what is new (see docs/mlflow-import.md).
    """
    if not source_uri:
        raise InvalidInput("the MLflow source URI is empty", field="source")
    from mlflow.exceptions import MlflowException

    summary = ImportSummary(source=source_uri, dry_run=dry_run)
    try:
        client = _client(source_uri)
        chosen = _source_experiments(client, experiments)
        _import_runs(context, client, source_uri, chosen, summary, progress, dry_run)
        if registry:
            selected: set[str] | None = None
            if experiments is not None:
                selected = {
                    run.info.run_id
                    for source in chosen
                    for run in _source_runs(client, source.experiment_id)
                }
            _import_registry(context, client, summary, selected, dry_run)
    except MlflowException as error:
        raise KilnError(
            f"reading the MLflow source {source_uri} failed: {error.message}"
        ) from error
    return summary
