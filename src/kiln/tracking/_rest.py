"""``RestBackend``: the tracking SDK's calls sent to a Kiln server's ``/api/v1``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from kiln.client import ApiClient
from kiln.tracking import _wire
from kiln.tracking._backend import TrackingBackend
from kiln.tracking._entities import (
    DatasetInput,
    Experiment,
    Metric,
    Param,
    Run,
    RunArtifact,
    RunStatus,
)


class RestBackend(TrackingBackend):
    """Tracking through a Kiln server (``KILN_SERVER_URL``, token from ``KILN_TOKEN``)."""

    #: Metrics per request: MLflow's limit, so a proxy or gateway never sees huge bodies.
    MAX_METRICS = 1000

    def __init__(self, client: ApiClient, project: str) -> None:
        self.client = client
        self.project = project

    def ensure_experiment(self, name: str) -> Experiment:
        data = self.client.request("POST", "/experiments/ensure", json_body={"name": name})
        return _wire.experiment_from_json(data)

    def create_run(
        self,
        experiment_id: str,
        *,
        name: str | None,
        parent_run_id: str | None,
        tags: dict[str, str],
    ) -> Run:
        data = self.client.request(
            "POST",
            "/runs",
            json_body={
                "experiment_id": experiment_id,
                "name": name,
                "parent_run_id": parent_run_id,
                "tags": tags,
            },
        )
        return _wire.run_from_json(data)

    def get_run(self, run_id: str) -> Run:
        return _wire.run_from_json(self.client.request("GET", f"/runs/{quote(run_id)}"))

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        failure: str | None = None,
        name: str | None = None,
    ) -> Run:
        body = {
            "status": status.value if status else None,
            "failure": failure,
            "name": name,
        }
        data = self.client.request(
            "PATCH",
            f"/runs/{quote(run_id)}",
            json_body={k: v for k, v in body.items() if v is not None},
        )
        return _wire.run_from_json(data)

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
        if metrics or params or tags:
            self.log_batch(run_id, metrics, params, tags)
        self.update_run(run_id, status=status, failure=failure)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[tuple[str, str]] = (),
    ) -> None:
        for start in range(0, max(len(metrics), 1), self.MAX_METRICS):
            part = metrics[start : start + self.MAX_METRICS]
            first = start == 0
            if not part and not (first and (params or tags)):
                continue
            self.client.request(
                "POST",
                f"/runs/{quote(run_id)}/batch",
                json_body={
                    "metrics": [_wire.metric_to_json(m) for m in part],
                    "params": [{"key": p.key, "value": p.value} for p in params] if first else [],
                    "tags": [{"key": k, "value": v} for k, v in tags] if first else [],
                },
            )

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        self.client.request(
            "POST",
            f"/runs/{quote(run_id)}/inputs",
            json_body={"datasets": [_wire.dataset_to_json(d) for d in datasets]},
        )

    def upload_artifact(self, run_id: str, local_file: Path, artifact_path: str) -> RunArtifact:
        data = self.client.upload(
            f"/runs/{quote(run_id)}/artifacts/{quote(artifact_path)}", local_file
        )
        return _wire.artifact_from_json(data)

    def log_artifact_bytes(
        self, run_id: str, files: Sequence[tuple[str, bytes]]
    ) -> list[RunArtifact]:
        import tempfile

        logged = []
        with tempfile.TemporaryDirectory(prefix="kiln-upload-") as folder:
            for index, (path, content) in enumerate(files):
                local = Path(folder) / str(index)
                local.write_bytes(content)
                logged.append(self.upload_artifact(run_id, local, path))
        return logged

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[RunArtifact]:
        data = self.client.request(
            "GET", f"/runs/{quote(run_id)}/artifacts", params={"prefix": prefix or None}
        )
        return [_wire.artifact_from_json(item) for item in data]

    def download_artifact(self, run_id: str, artifact: RunArtifact, dest: Path) -> Path:
        from kiln.artifacts import safe_join

        target = safe_join(dest, artifact.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        return self.client.download(
            f"/runs/{quote(run_id)}/artifact-content/{quote(artifact.path)}", target
        )

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
        data = self.client.request(
            "POST",
            "/runs/search",
            json_body={
                "experiment_ids": list(experiment_ids),
                "filter": filter_string,
                "order_by": list(order_by),
                "max_results": max_results,
                "page_token": page_token,
                "run_view": run_view,
            },
        )
        return [_wire.run_from_json(r) for r in data["runs"]], data.get("next_page_token")

    def metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str] | None = None
    ) -> dict[str, dict[str, list[Metric]]]:
        data = self.client.request(
            "POST",
            "/runs/metric-histories",
            json_body={"run_ids": list(run_ids), "keys": list(keys) if keys else None},
        )
        return {
            run_id: {
                key: [_wire.metric_from_json(m) for m in points] for key, points in per.items()
            }
            for run_id, per in data.items()
        }
