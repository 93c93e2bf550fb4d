"""Where tracking calls go: straight to the stores, or to a Kiln server.

``TrackingBackend`` is the small interface the SDK talks to. ``LocalBackend``
calls the services through ``Database.run`` and streams files into the
artifact store; ``RestBackend`` (``_rest.py``) sends the same calls to
``/api/v1`` when ``KILN_SERVER_URL`` is set. Both hand back the same entities.
"""

from __future__ import annotations

import getpass
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

from kiln.context import Context
from kiln.tracking import _artifacts, _experiments, _inputs, _runs
from kiln.tracking._entities import (
    DatasetInput,
    Experiment,
    Metric,
    Param,
    Run,
    RunArtifact,
    RunStatus,
)


class TrackingBackend(ABC):
    """The calls the tracking SDK needs from a store, local or remote."""

    project: str

    @abstractmethod
    def ensure_experiment(self, name: str) -> Experiment: ...

    @abstractmethod
    def create_run(
        self,
        experiment_id: str,
        *,
        name: str | None,
        parent_run_id: str | None,
        tags: dict[str, str],
    ) -> Run: ...

    @abstractmethod
    def get_run(self, run_id: str) -> Run: ...

    @abstractmethod
    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        failure: str | None = None,
        name: str | None = None,
    ) -> Run: ...

    @abstractmethod
    def end_run(
        self,
        run_id: str,
        status: RunStatus,
        failure: str | None = None,
        *,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Write the run's last data (if any) and end it, in one step where possible."""

    @abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[tuple[str, str]] = (),
    ) -> None: ...

    @abstractmethod
    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None: ...

    @abstractmethod
    def upload_artifact(self, run_id: str, local_file: Path, artifact_path: str) -> RunArtifact: ...

    @abstractmethod
    def log_artifact_bytes(
        self, run_id: str, files: Sequence[tuple[str, bytes]]
    ) -> list[RunArtifact]:
        """Small in-memory files (path, content) logged together."""

    @abstractmethod
    def list_artifacts(self, run_id: str, prefix: str = "") -> list[RunArtifact]: ...

    @abstractmethod
    def download_artifact(self, run_id: str, artifact: RunArtifact, dest: Path) -> Path: ...

    @abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        *,
        filter_string: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
        run_view: str = "active_only",
    ) -> tuple[list[Run], str | None]: ...

    @abstractmethod
    def metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str] | None = None
    ) -> dict[str, dict[str, list[Metric]]]: ...


class LocalBackend(TrackingBackend):
    """Tracking straight into the metadata and artifact stores of a context."""

    def __init__(self, context: Context, project: str | None = None) -> None:
        self.context = context
        self.project = project or context.settings.project

    def ensure_experiment(self, name: str) -> Experiment:
        return self.context.db.run(_experiments.ensure_experiment, self.project, name)

    def create_run(
        self,
        experiment_id: str,
        *,
        name: str | None,
        parent_run_id: str | None,
        tags: dict[str, str],
    ) -> Run:
        return self.context.db.run(
            _runs.create_run,
            self.project,
            experiment_id,
            name=name,
            parent_run_id=parent_run_id,
            tags=tags,
            user=_user(),
        )

    def get_run(self, run_id: str) -> Run:
        return self.context.db.read(_runs.get_run, self.project, run_id)

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        failure: str | None = None,
        name: str | None = None,
    ) -> Run:
        return self.context.db.run(
            _runs.update_run, self.project, run_id, status=status, failure=failure, name=name
        )

    def end_run(
        self,
        run_id: str,
        status: RunStatus,
        failure: str | None = None,
        *,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.context.db.run(
            _runs.finish_run,
            self.project,
            run_id,
            status,
            failure,
            metrics=metrics,
            params=params,
            tags=tags,
        )

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.context.db.run(
            _runs.log_batch, self.project, run_id, metrics=metrics, params=params, tags=tags
        )

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        self.context.db.run(_inputs.log_inputs, self.project, run_id, datasets)

    def upload_artifact(self, run_id: str, local_file: Path, artifact_path: str) -> RunArtifact:
        from kiln.artifacts import validate_artifact_path

        validate_artifact_path(artifact_path)
        blob = self.context.artifacts.put_file(local_file)
        return self.context.db.run(
            _artifacts.record_artifact, self.project, run_id, artifact_path, blob.digest, blob.size
        )

    def log_artifact_bytes(
        self, run_id: str, files: Sequence[tuple[str, bytes]]
    ) -> list[RunArtifact]:
        from kiln.artifacts import validate_artifact_path

        records = []
        for path, content in files:
            validate_artifact_path(path)
            blob = self.context.artifacts.put_bytes(content)
            records.append(RunArtifact(path, blob.digest, blob.size))
        return self.context.db.run(_artifacts.record_artifacts, self.project, run_id, records)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[RunArtifact]:
        return self.context.db.read(_artifacts.list_artifacts, self.project, run_id, prefix)

    def download_artifact(self, run_id: str, artifact: RunArtifact, dest: Path) -> Path:
        return self.context.artifacts.export(artifact.digest, dest, artifact.path)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        *,
        filter_string: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
        run_view: str = "active_only",
    ) -> tuple[list[Run], str | None]:
        from kiln.tracking import _search

        return self.context.db.read(
            _search.search_runs,
            self.project,
            experiment_ids,
            filter_string=filter_string,
            order_by=order_by,
            max_results=max_results,
            page_token=page_token,
            run_view=run_view,
        )

    def metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str] | None = None
    ) -> dict[str, dict[str, list[Metric]]]:
        return self.context.db.read(_runs.get_metric_histories, self.project, run_ids, keys)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return ""
