"""Reading an MLflow tracking server or store with the stock client, page by page."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from kiln.errors import InvalidInput, NotFound
from kiln.migration._mlflow_common import ImportSummary, _Keys, _run_name
from kiln.tracking._entities import DatasetInput, Metric, RunArtifact, RunStatus
from kiln.tracking._names import (
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    check_name,
)

#: Sizes of Kiln's dataset columns (``datasets.digest``, ``source_type``; ``run_inputs.context``).
_DIGEST, _SOURCE_TYPE, _CONTEXT = 64, 32, 64


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
    inputs: list[DatasetInput]


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


def _dataset_inputs(run: Any, summary: ImportSummary) -> list[DatasetInput]:
    """The run's dataset inputs (``log_input``) that fit Kiln's rules; the others are listed."""
    inputs = getattr(run, "inputs", None)
    found: list[DatasetInput] = []
    for item in getattr(inputs, "dataset_inputs", None) or []:
        d = item.dataset
        context = next((t.value for t in item.tags or [] if t.key == "mlflow.data.context"), "")
        where = f"run {run.info.run_id}: dataset {d.name!r}"
        try:
            check_name(d.name, what="dataset name")
        except InvalidInput:
            summary.skipped.append(f"{where} (not a valid Kiln dataset name)")
            continue
        too_long = [
            what
            for what, value, limit in [
                ("digest", d.digest, _DIGEST),
                ("source type", d.source_type, _SOURCE_TYPE),
                ("context", context, _CONTEXT),
            ]
            if len(value or "") > limit
        ]
        if not d.digest or too_long:
            reason = f"{', '.join(too_long)} too long" if too_long else "no digest"
            summary.skipped.append(f"{where} ({reason})")
            continue
        found.append(
            DatasetInput(
                name=d.name,
                digest=d.digest,
                source_type=d.source_type or "",
                source=d.source or "",
                schema=d.schema or "",
                profile=d.profile or "",
                context=context or "",
            )
        )
    return found


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
        inputs=_dataset_inputs(run, summary),
    )


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def _source_versions(client: Any, name: str) -> list[Any]:
    def fetch(token: str | None) -> Any:
        return client.search_model_versions(
            f"name = '{_quote(name)}'", max_results=1000, page_token=token
        )

    return sorted(_pages(fetch), key=lambda v: int(v.version))


# -- the entry point --------------------------------------------------------------------
