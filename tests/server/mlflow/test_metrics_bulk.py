"""``metrics/get-history-bulk-interval`` and paged ``metrics/get-history`` against ``kiln server``.

The samples are compared with MLflow's own SQL store given the same points,
so a chart drawn by MLflow's UI from Kiln looks as it would from MLflow.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

mlflow = pytest.importorskip("mlflow")

from mlflow.entities import Metric  # noqa: E402

from kiln.context import Context  # noqa: E402
from kiln.tracking import _experiments, _history, _runs  # noqa: E402
from kiln.tracking._entities import Metric as KilnMetric  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:::mlflow")

BULK = "/api/2.0/mlflow/metrics/get-history-bulk-interval"


def _points() -> dict[str, list[Metric]]:
    """Per run name: the points of key ``loss`` (and one other key), none repeated."""
    steps = []
    for step in range(200):
        value = math.nan if step == 50 else math.inf if step == 120 else math.sin(step)
        steps.append(Metric("loss", value, 1_000 + step, step))
    steps.append(Metric("loss", -math.inf, 1_500, 120))  # two points at step 120
    flat = [Metric("loss", float(i), 2_000 + i, 0) for i in range(30)]
    sparse = [
        Metric("loss", v, t, s)
        for v, t, s in [(1.0, 5, 0), (2.0, 6, 5), (2.5, 4, 5), (3.0, 7, 7), (4.0, 8, 100)]
    ]
    sparse.append(Metric("loss", 5.0, 9, 1_000))
    other = [Metric("acc", 0.5, 10, 0)]
    return {"steps": steps, "flat": flat, "sparse": sparse, "other": other}


def _log(client: Any, experiment_id: str) -> list[str]:
    ids = []
    for name, points in _points().items():
        run = client.create_run(experiment_id, run_name=name)
        client.log_batch(run.info.run_id, metrics=points)
        ids.append(run.info.run_id)
    return ids


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The runs in an MLflow SQLite store, and that store (MLflow's own sampling)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    folder = tmp_path_factory.mktemp("mlflow-store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    source = mlflow.MlflowClient(uri)
    experiment = source.create_experiment("bulk", artifact_location=(folder / "a").as_uri())
    mlflow_ids = _log(source, experiment)
    return {"mlflow": mlflow_ids, "store": SqlAlchemyStore(uri, (folder / "a").as_uri())}


@pytest.fixture(scope="module")
def both(kiln_server: str, reference: dict[str, Any]) -> dict[str, Any]:
    """The same runs in Kiln (through the server) and in an MLflow SQLite store."""
    kiln = mlflow.MlflowClient(kiln_server)
    kiln_ids = _log(kiln, kiln.create_experiment("bulk-interval"))
    return {"url": kiln_server, "kiln": kiln_ids, **reference}


def _expected(
    reference: dict[str, Any], max_results: int, start: int | None, end: int | None
) -> list[tuple[object, ...]]:
    found = reference["store"].get_metric_history_bulk_interval(
        run_ids=reference["mlflow"],
        metric_key="loss",
        max_results=max_results,
        start_step=start,
        end_step=end,
    )
    position = {run_id: i for i, run_id in enumerate(reference["mlflow"])}
    return [(position[m.run_id], m.key, m.step, m.timestamp, _norm(m.value)) for m in found]


def _norm(value: float) -> object:
    value = float(value)
    if math.isnan(value):
        return "nan"
    if abs(value) == sys.float_info.max:  # MLflow's SQL stores keep ±inf as ±max float
        return math.copysign(math.inf, value)
    return value


def _bulk(url: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{url}{BULK}", params=params, timeout=30)


@pytest.mark.parametrize("max_results", [1, 2, 3, 7, 64, 2500])
@pytest.mark.parametrize("window", [None, (0, 0), (5, 120), (100, 100), (1_000, 5_000)])
def test_samples_match_mlflow(
    both: dict[str, Any], max_results: int, window: tuple[int, int] | None
) -> None:
    start, end = window or (None, None)
    want = _expected(both, max_results, start, end)
    params: dict[str, Any] = {
        "run_ids": both["kiln"],
        "metric_key": "loss",
        "max_results": max_results,
    }
    if window is not None:
        params.update(start_step=start, end_step=end)
    response = _bulk(both["url"], **params)
    assert response.status_code == 200, response.text
    kiln_position = {run_id: i for i, run_id in enumerate(both["kiln"])}
    got = [
        (kiln_position[m["run_id"]], m["key"], m["step"], m["timestamp"], _norm(m["value"]))
        for m in response.json().get("metrics", [])
    ]
    assert got == want


@pytest.mark.parametrize("max_results", [1, 4, 64])
def test_sampling_service_on_each_store(
    context: Context, reference: dict[str, Any], max_results: int
) -> None:
    """The window-function query, on SQLite and PostgreSQL, against MLflow's store."""
    project = context.settings.project
    experiment = context.db.run(_experiments.create_experiment, project, "sampling").id
    ids = []
    for name, points in _points().items():
        run = context.db.run(_runs.create_run, project, experiment, name=name)
        context.db.run(
            _runs.log_batch,
            project,
            run.id,
            metrics=[KilnMetric(m.key, m.value, m.step, m.timestamp) for m in points],
        )
        ids.append(run.id)
    for start, end in [(None, None), (5, 120)]:
        samples = context.db.read(
            _history.sample_metric_histories,
            project,
            [*ids, "f" * 32],
            "loss",
            max_results=max_results,
            start_step=start,
            end_step=end,
        )
        got = [(ids.index(r), m.key, m.step, m.timestamp, _norm(m.value)) for r, m in samples]
        assert got == _expected(reference, max_results, start, end)
    page, token = context.db.read(
        _history.metric_history_page, project, ids[0], "loss", max_results=150
    )
    rest, end_token = context.db.read(
        _history.metric_history_page, project, ids[0], "loss", max_results=150, page_token=token
    )
    assert (len(page), len(rest), end_token) == (150, 51, None)
    everything = context.db.read(_runs.get_metric_history, project, ids[0], "loss")
    assert [(m.step, m.timestamp) for m in page + rest] == [
        (m.step, m.timestamp) for m in everything
    ]


def test_default_max_results_and_ajax_route(both: dict[str, Any]) -> None:
    """Without max_results every point of a 201-point run comes back (MLflow's default is 2500)."""
    url = both["url"]
    response = httpx.get(
        f"{url}/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
        params={"run_ids": both["kiln"][0], "metric_key": "loss"},
    )
    assert response.status_code == 200
    metrics = response.json()["metrics"]
    assert len(metrics) == 201
    assert {m["run_id"] for m in metrics} == {both["kiln"][0]}
    assert {"NaN", "Infinity", "-Infinity"} <= {m["value"] for m in metrics}


def test_unknown_runs_give_no_points(both: dict[str, Any]) -> None:
    """As in MLflow: a run that is not there (deleted, another project) adds nothing."""
    response = _bulk(both["url"], run_ids=["0" * 32, both["kiln"][2]], metric_key="loss")
    assert response.status_code == 200
    assert {m["run_id"] for m in response.json()["metrics"]} == {both["kiln"][2]}
    nothing = _bulk(both["url"], run_ids=["0" * 32], metric_key="loss")
    assert nothing.json().get("metrics", []) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"metric_key": "loss"}, "run_ids"),
        ({"run_ids": "RUN"}, "metric_key"),
        ({"run_ids": [f"{i:032x}" for i in range(101)], "metric_key": "loss"}, "100"),
        ({"run_ids": "RUN", "metric_key": "loss", "max_results": 0}, "max_results"),
        ({"run_ids": "RUN", "metric_key": "loss", "max_results": 2501}, "max_results"),
        ({"run_ids": "RUN", "metric_key": "loss", "max_results": "many"}, "max_results"),
        ({"run_ids": "RUN", "metric_key": "loss", "start_step": 3}, "start_step"),
        ({"run_ids": "RUN", "metric_key": "loss", "end_step": 3}, "end_step"),
        ({"run_ids": "RUN", "metric_key": "loss", "start_step": 9, "end_step": 3}, "end_step"),
        ({"run_ids": "RUN", "metric_key": "loss", "start_step": "x", "end_step": 3}, "start_step"),
    ],
)
def test_bad_requests_are_invalid_parameter_value(
    both: dict[str, Any], params: dict[str, Any], message: str
) -> None:
    params = {k: (both["kiln"][0] if v == "RUN" else v) for k, v in params.items()}
    response = _bulk(both["url"], **params)
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert message in body["message"]


def test_history_pages_with_the_stock_client(
    both: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's client asks for pages of ``max_results`` and follows ``next_page_token``."""
    from mlflow.tracking._tracking_service import client as service

    url = both["url"]
    run_id = both["kiln"][0]
    whole = httpx.get(
        f"{url}/api/2.0/mlflow/metrics/get-history",
        params={"run_id": run_id, "metric_key": "loss"},
    ).json()
    assert "next_page_token" not in whole
    assert len(whole["metrics"]) == 201
    first = httpx.get(
        f"{url}/api/2.0/mlflow/metrics/get-history",
        params={"run_id": run_id, "metric_key": "loss", "max_results": 50},
    ).json()
    assert len(first["metrics"]) == 50
    assert first["next_page_token"]

    monkeypatch.setattr(service, "GET_METRIC_HISTORY_MAX_RESULTS", 7)
    paged = mlflow.MlflowClient(url).get_metric_history(run_id, "loss")
    assert [(m.step, m.timestamp) for m in paged] == [
        (m["step"], m["timestamp"]) for m in whole["metrics"]
    ]
    assert math.isnan(paged[50].value)


def test_history_page_errors(both: dict[str, Any]) -> None:
    url = f"{both['url']}/api/2.0/mlflow/metrics/get-history"
    run_id = both["kiln"][0]
    bad_token = httpx.get(
        url, params={"run_id": run_id, "metric_key": "loss", "max_results": 5, "page_token": "x"}
    )
    assert bad_token.status_code == 400
    assert bad_token.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    zero = httpx.get(url, params={"run_id": run_id, "metric_key": "loss", "max_results": 0})
    assert zero.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    missing = httpx.get(url, params={"run_id": "0" * 32, "metric_key": "loss"})
    assert (missing.status_code, missing.json()["error_code"]) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


def test_metric_history_in_another_shape_is_unchanged(client: Any, tmp_path: Path) -> None:
    """Existing callers without max_results get the whole history, by step."""
    run = client.create_run(client.create_experiment("history-plain"))
    for step in (3, 1, 2):
        client.log_metric(run.info.run_id, "m", float(step), timestamp=step, step=step)
    history = client.get_metric_history(run.info.run_id, "m")
    assert [m.step for m in history] == [1, 2, 3]
