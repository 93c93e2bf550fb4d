"""Monitors over a deployment's prediction log and over a dataset's versions, stored per window."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from kiln.auth import ensure_project
from kiln.context import Context
from kiln.errors import AlreadyExists, InvalidInput, NotFound
from kiln.monitoring._evaluate import evaluate_monitor
from kiln.monitoring._monitors import create_monitor, delete_monitor, get_monitor, list_monitors
from kiln.monitoring._profiles import create_profile, list_profiles, load_profile
from kiln.monitoring._results import list_results
from kiln.serving._prediction_log import PredictionLog, PredictionRecord
from kiln.serving._predictions_labels import post_labels

PROJECT = "default"
START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.fixture
def context(make_context: Callable[..., Context], database_url: str) -> Iterator[Context]:
    made = make_context(database_url=database_url)
    made.db.run(ensure_project, PROJECT)
    yield made
    made.close()


def reference(rows: int = 4_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 50.0, rows),
            "age": rng.integers(18, 90, rows),
            "city": rng.choice(["paris", "lyon", "nice"], rows),
            "predictions": rng.integers(0, 2, rows),
        }
    )


def log_requests(
    context: Context,
    frame: pd.DataFrame,
    *,
    at: datetime,
    spread: timedelta = timedelta(minutes=50),
    per_request: int = 10,
    prefix: str = "r",
    deployment: str = "fraud-api",
) -> list[str]:
    """Log ``frame`` as requests of ``per_request`` rows through the real prediction log."""
    log = PredictionLog(context, project=PROJECT)
    ids = []
    chunks = range(0, len(frame), per_request)
    for n, start in enumerate(chunks):
        part = frame.iloc[start : start + per_request]
        request_id = f"{prefix}-{n}"
        ids.append(request_id)
        inputs = {c: part[c].tolist() for c in ("amount", "age", "city")}
        assert log.record(
            PredictionRecord(
                request_id=request_id,
                deployment=deployment,
                model="fraud",
                version=1,
                route="primary",
                inputs=inputs,
                outputs={"predictions": part["predictions"].tolist()},
                n_rows=len(part),
                latency_ms=1.0,
                time=at + spread * n / len(chunks),
            )
        )
    log.flush()
    log.close()
    return ids


def window_groups(context: Context, digest: str) -> dict[str, Any]:
    groups: dict[str, Any] = orjson.loads(context.artifacts.read_bytes(digest))["fairness"]["city"][
        "groups"
    ]
    return groups


def shifted(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["amount"] = out["amount"] * 1.8 + 40
    return out


def test_profile_versions_and_json_blob(context: Context) -> None:
    first, profile = create_profile(context, PROJECT, "fraud-ref", reference())
    second, _ = create_profile(context, PROJECT, "fraud-ref", reference(seed=1))
    assert (first.ref, second.ref) == ("fraud-ref@1", "fraud-ref@2")
    assert first.columns == ("amount", "age", "city", "predictions")
    stored, loaded = load_profile(context, PROJECT, "fraud-ref@1")
    assert stored == first
    assert loaded == profile
    assert load_profile(context, PROJECT, "fraud-ref")[0].version == 2
    assert [p.ref for p in context.db.read(list_profiles, PROJECT)] == [
        "fraud-ref@2",
        "fraud-ref@1",
    ]
    with pytest.raises(NotFound, match="kiln monitor profile"):
        load_profile(context, PROJECT, "fraud-ref@9")


def test_a_deployment_monitor_finds_the_drift_per_hourly_window(context: Context) -> None:
    create_profile(context, PROJECT, "fraud-ref", reference())
    monitor = context.db.run(
        create_monitor,
        PROJECT,
        "fraud-watch",
        target_kind="deployment",
        target="fraud-api",
        spec={
            "profile": "fraud-ref",
            "window": "1h",
            "task": "classification",
            "sensitive": ["city"],
        },
    )
    assert monitor.spec.profile == "fraud-ref@1"  # pinned at creation
    log_requests(context, reference(600, seed=5), at=START, prefix="a")
    ids = log_requests(
        context, shifted(reference(600, seed=6)), at=START + timedelta(hours=1), prefix="b"
    )
    context.db.run(
        post_labels, PROJECT, "fraud-api", {i: [1] * 10 for i in ids[:20]} | {"ghost": 1}
    )

    results = evaluate_monitor(
        context, PROJECT, "fraud-watch", since=START, until=START + timedelta(hours=2)
    )
    assert [(r.start, r.end, r.rows) for r in results] == [
        (START, START + timedelta(hours=1), 600),
        (START + timedelta(hours=1), START + timedelta(hours=2), 600),
    ]
    clean, drifted = results
    assert clean.metrics["drift.drifted"] == 0
    assert drifted.metrics["drift.amount.drift"] == 1.0
    assert drifted.metrics["drift.drifted"] == 1
    assert drifted.metrics["drift.share"] == pytest.approx(1 / 3)
    assert "predictions" not in {k.split(".")[1] for k in drifted.metrics if k.startswith("drift.")}
    window = orjson.loads(context.artifacts.read_bytes(drifted.digest))

    assert drifted.metrics["prediction_drift.drift"] == 0.0
    assert drifted.metrics["performance.labeled"] == 200
    assert drifted.metrics["performance.unknown_label_ids"] == 1
    assert 0 <= drifted.metrics["performance.accuracy"] <= 1
    # Fairness of the predictions by city; with labels on a third of the rows, rates only.
    assert 0 <= clean.metrics["fairness.city.demographic_parity_difference"] <= 1
    assert set(window_groups(context, clean.digest)) == {"paris", "lyon", "nice"}
    assert "performance.labeled" not in clean.metrics or clean.metrics["performance.labeled"] == 0

    window = orjson.loads(context.artifacts.read_bytes(drifted.digest))
    assert window["drift"]["columns"]["amount"]["drift"] is True
    assert window["quality"]["findings"][0]["check"] == "out_of_range"
    assert window["performance"]["labeled"] == 200

    # Evaluating again replaces the windows rather than adding to them.
    again = evaluate_monitor(
        context, PROJECT, "fraud-watch", since=START, until=START + timedelta(hours=2)
    )
    assert len(again) == 2
    stored = context.db.read(list_results, PROJECT, "fraud-watch")
    assert [r.start for r in stored] == [START, START + timedelta(hours=1)]
    assert stored[1].digest == again[1].digest


def test_without_since_the_newest_window_is_evaluated_again(context: Context) -> None:
    create_profile(context, PROJECT, "fraud-ref", reference())
    context.db.run(
        create_monitor,
        PROJECT,
        "fraud-watch",
        target_kind="deployment",
        target="fraud-api",
        spec={"profile": "fraud-ref@1", "window": "1h"},
    )
    log_requests(context, reference(100, seed=2), at=START, spread=timedelta(minutes=5))
    first = evaluate_monitor(context, PROJECT, "fraud-watch", until=START + timedelta(minutes=30))
    assert [(r.start, r.rows) for r in first] == [(START, 100)]
    log_requests(
        context,
        reference(50, seed=3),
        at=START + timedelta(minutes=40),
        prefix="late",
        spread=timedelta(minutes=5),
    )
    later = evaluate_monitor(
        context, PROJECT, "fraud-watch", until=START + timedelta(hours=1, minutes=5)
    )
    assert [(r.start, r.rows) for r in later] == [(START, 150)]


def test_bad_logged_values_and_empty_ranges_are_findings_not_failures(context: Context) -> None:
    create_profile(context, PROJECT, "fraud-ref", reference())
    context.db.run(
        create_monitor,
        PROJECT,
        "m",
        target_kind="deployment",
        target="fraud-api",
        spec={"profile": "fraud-ref"},
    )
    frame = reference(20, seed=4).astype({"amount": object})
    frame.loc[3, "amount"] = "lots"
    log_requests(context, frame, at=START, per_request=5)
    (result,) = evaluate_monitor(
        context, PROJECT, "m", since=START, until=START + timedelta(hours=1)
    )
    window = orjson.loads(context.artifacts.read_bytes(result.digest))
    errors = [f for f in window["quality"]["findings"] if f["check"] == "type_error"]
    assert [(f["column"], f["count"]) for f in errors] == [("amount", 1)]
    assert result.metrics["quality.critical"] >= 1
    assert (
        evaluate_monitor(
            context, PROJECT, "m", since=START - timedelta(days=3), until=START - timedelta(days=2)
        )
        == []
    )


def test_a_dataset_monitor_checks_its_newest_version(context: Context) -> None:
    from kiln.data import _service

    _service.register(context.db, context.artifacts, PROJECT, reference(), "claims")
    create_profile(context, PROJECT, "claims-ref", "claims@1")
    _service.register(context.db, context.artifacts, PROJECT, shifted(reference(seed=9)), "claims")
    context.db.run(
        create_monitor,
        PROJECT,
        "claims-watch",
        target_kind="dataset",
        target="claims",
        spec={"profile": "claims-ref"},
    )
    (latest,) = evaluate_monitor(context, PROJECT, "claims-watch")
    assert latest.metrics["drift.amount.drift"] == 1.0
    (first,) = evaluate_monitor(context, PROJECT, "claims-watch", version=1)
    assert first.metrics["drift.drifted"] == 0
    window = orjson.loads(context.artifacts.read_bytes(latest.digest))
    assert window["dataset_version"] == "claims@2"


def test_a_profile_from_a_run_uses_the_dataset_it_was_trained_on(context: Context) -> None:
    from sqlalchemy.orm import Session

    from kiln.auth import project_id
    from kiln.data import _service
    from kiln.lineage import Edge, Node, Relation, add_edges
    from kiln.tracking._experiments import create_experiment
    from kiln.tracking._runs import create_run

    version = _service.register(context.db, context.artifacts, PROJECT, reference(), "train")
    experiment = context.db.run(create_experiment, PROJECT, "e")
    run = context.db.run(create_run, PROJECT, experiment.id, name="fit")

    def link(session: Session) -> None:
        edge = Edge(Node.dataset_version(version.version_id), Node.run(run.id), Relation.INPUT)
        add_edges(session, project_id(session, PROJECT), [edge])

    context.db.run(link)
    stored, _ = create_profile(context, PROJECT, "from-run", f"run:{run.id}")
    assert stored.source == {"kind": "run", "name": f"run:{run.id}", "dataset_version": "train@1"}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"profile": "fraud-ref", "window": "soon"}, "window"),
        ({"profile": "fraud-ref", "nope": 1}, "nope"),
        ({"profile": "fraud-ref", "task": "ranking"}, "task"),
        ({"profile": "fraud-ref", "quality": {"nulls": 1}}, "quality"),
        ({"profile": "bad name"}, "profile"),
        ({}, "profile"),
    ],
)
def test_bad_specs_name_the_field(context: Context, spec: dict[str, Any], field: str) -> None:
    create_profile(context, PROJECT, "fraud-ref", reference(100))
    with pytest.raises(InvalidInput) as caught:
        context.db.run(
            create_monitor, PROJECT, "m", target_kind="deployment", target="d", spec=spec
        )
    assert caught.value.field == field


def test_monitor_records_are_unique_replaced_listed_and_deleted(context: Context) -> None:
    create_profile(context, PROJECT, "fraud-ref", reference(100))
    make = {"target_kind": "deployment", "target": "d", "spec": {"profile": "fraud-ref"}}
    context.db.run(create_monitor, PROJECT, "m", **make)
    with pytest.raises(AlreadyExists, match="replace"):
        context.db.run(create_monitor, PROJECT, "m", **make)
    context.db.run(
        create_monitor,
        PROJECT,
        "m",
        **make | {"spec": {"profile": "fraud-ref", "window": "1d"}},
        replace=True,
    )
    assert context.db.read(get_monitor, PROJECT, "m").spec.window == "1d"
    with pytest.raises(NotFound):
        context.db.run(create_monitor, PROJECT, "x", **make | {"spec": {"profile": "other"}})
    with pytest.raises(NotFound):
        context.db.run(
            create_monitor, PROJECT, "x", **make | {"target_kind": "dataset", "target": "nope"}
        )
    assert [m.name for m in context.db.read(list_monitors, PROJECT)] == ["m"]
    context.db.run(delete_monitor, PROJECT, "m")
    assert context.db.read(list_monitors, PROJECT) == []
    with pytest.raises(InvalidInput, match="before"):
        evaluate_monitor(context, PROJECT, "m", since=START, until=START)
