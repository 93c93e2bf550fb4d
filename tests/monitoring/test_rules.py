"""Alert rules: their records, their conditions, and their evaluation on a monitor's windows."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kiln.alerts import AlertStatus, list_alerts
from kiln.alerts._address_guard import WEBHOOK_ALLOW_ENV
from kiln.auth import ensure_project
from kiln.context import Context
from kiln.errors import AlreadyExists, InvalidInput, NotFound
from kiln.monitoring import _rule_evaluation
from kiln.monitoring._deliveries import DeliveryStatus, list_deliveries
from kiln.monitoring._evaluate import evaluate_monitor
from kiln.monitoring._monitors import create_monitor, delete_monitor
from kiln.monitoring._profiles import create_profile
from kiln.monitoring._results import MonitorResult
from kiln.monitoring._rule_evaluation import evaluate_rules, format_value
from kiln.monitoring._rules import (
    create_rule,
    delete_rule,
    get_rule,
    list_rules,
    parse_condition,
    set_rule_enabled,
)
from kiln.serving._predictions_labels import post_labels
from tests.monitoring._alert_servers import http_receiver
from tests.monitoring.test_monitors import log_requests, reference, shifted

PROJECT = "default"
START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def context(make_context: Callable[..., Context], database_url: str) -> Iterator[Context]:
    made = make_context(database_url=database_url)
    made.db.run(ensure_project, PROJECT)
    yield made
    made.close()


def watch(context: Context, name: str = "fraud-watch", **spec: Any) -> None:
    context.db.run(
        create_monitor,
        PROJECT,
        name,
        target_kind="deployment",
        target="fraud-api",
        spec={"profile": "fraud-ref", "window": "1h"} | spec,
    )


def rule(context: Context, name: str, condition: str, **options: Any) -> Any:
    metric, operator, threshold = parse_condition(condition)
    options.setdefault("monitor", "fraud-watch")
    monitor = options.pop("monitor")
    return context.db.run(
        create_rule,
        PROJECT,
        monitor,
        name,
        metric=metric,
        operator=operator,
        threshold=threshold,
        **options,
    )


@pytest.fixture
def windows(context: Context) -> list[MonitorResult]:
    """A clean hour, then a drifted hour with labels on a third of its rows."""
    create_profile(context, PROJECT, "fraud-ref", reference())
    watch(context, task="classification", sensitive=["city"])
    log_requests(context, reference(600, seed=5), at=START, prefix="a")
    ids = log_requests(context, shifted(reference(600, seed=6)), at=START + HOUR, prefix="b")
    context.db.run(post_labels, PROJECT, "fraud-api", {i: [1] * 10 for i in ids[:20]})
    results = evaluate_monitor(context, PROJECT, "fraud-watch", since=START, until=START + 2 * HOUR)
    assert len(results) == 2
    return results


# --- conditions and records ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("drift.share > 0.3", ("drift.share", ">", 0.3)),
        ("  performance.f1<=0.8 ", ("performance.f1", "<=", 0.8)),
        ("drift.card-type_2.statistic >= 1e-3", ("drift.card-type_2.statistic", ">=", 0.001)),
        (
            "fairness.city.demographic_parity_difference < -0.5",
            ("fairness.city.demographic_parity_difference", "<", -0.5),
        ),
        ("rows<10", ("rows", "<", 10.0)),
    ],
)
def test_conditions_are_parsed(text: str, parsed: tuple[str, str, float]) -> None:
    assert parse_condition(text) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "drift.share = 0.3",
        "drift.share > ",
        "drift.share > lots",
        "drift.share > nan",
        "drift.share > inf",
        "drfit.share > 0.3",
        "drift..share > 0.3",
        "drift share > 0.3",
        "> 0.3",
        "",
    ],
)
def test_bad_conditions_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_condition(text)
    assert caught.value.field == "condition"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"name": "bad name"}, "name"),
        ({"metric": "latency.p99"}, "metric"),
        ({"metric": "drift share"}, "metric"),
        ({"operator": "=="}, "operator"),
        ({"threshold": "0.3"}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"threshold": True}, "threshold"),
        ({"severity": "page-everyone"}, "severity"),
        ({"sinks": {"kind": "log"}}, "sinks"),
        ({"sinks": [{"kind": "log"}, {"kind": "webhook", "url": "ftp://x"}]}, "sinks[1].url"),
        ({"sinks": [{"kind": "pager"}]}, "sinks[0].kind"),
        ({"pipeline": "flows"}, "pipeline"),
        ({"pipeline": "flows:retrain; rm -rf /"}, "pipeline"),
        ({"pipeline_params": {"x": 1}}, "pipeline_params"),
        ({"pipeline": "flows:retrain", "pipeline_params": {"alert_id": 1}}, "pipeline_params"),
        ({"pipeline": "flows:retrain", "pipeline_params": {"x": object()}}, "pipeline_params"),
        ({"pipeline": "flows:retrain", "pipeline_params": [1]}, "pipeline_params"),
        ({"enabled": "yes"}, "enabled"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(
    context: Context, options: dict[str, Any], field: str
) -> None:
    create_profile(context, PROJECT, "fraud-ref", reference(100))
    watch(context)
    values = {"metric": "drift.share", "operator": ">", "threshold": 0.3} | options
    name = values.pop("name", "r")
    with pytest.raises(InvalidInput) as caught:
        context.db.run(create_rule, PROJECT, "fraud-watch", name, **values)
    assert caught.value.field == field
    assert context.db.read(list_rules, PROJECT, "fraud-watch") == []


def test_rules_are_created_listed_replaced_toggled_and_deleted(context: Context) -> None:
    create_profile(context, PROJECT, "fraud-ref", reference(100))
    watch(context)
    hook = {"kind": "webhook", "url": "https://hooks.example.com/x", "headers": {"X-Key": "k3y"}}
    created = rule(
        context,
        "drifting",
        "drift.share > 0.3",
        severity="critical",
        sinks=[hook, {"kind": "log"}],
        pipeline="flows:retrain",
        pipeline_params={"epochs": 3},
    )
    rule(context, "accuracy", "performance.accuracy < 0.8")
    assert (created.condition, created.severity, created.enabled) == (
        "drift.share > 0.3",
        "critical",
        True,
    )
    assert created.sinks == (hook, {"kind": "log"})
    assert created.to_dict()["sinks"][0]["headers"] == {"X-Key": "***"}
    assert created.to_dict()["pipeline_params"] == {"epochs": 3}
    listed = context.db.read(list_rules, PROJECT, "fraud-watch")
    assert [r.name for r in listed] == ["accuracy", "drifting"]
    assert context.db.read(get_rule, PROJECT, "fraud-watch", "drifting") == created
    with pytest.raises(AlreadyExists, match="replace"):
        rule(context, "drifting", "drift.share > 0.5")
    replaced = rule(context, "drifting", "drift.share > 0.5", replace=True)
    assert (replaced.id, replaced.threshold, replaced.sinks, replaced.pipeline) == (
        created.id,
        0.5,
        (),
        None,
    )
    off = context.db.run(set_rule_enabled, PROJECT, "fraud-watch", "drifting", False)
    assert off.enabled is False
    context.db.run(delete_rule, PROJECT, "fraud-watch", "drifting")
    with pytest.raises(NotFound, match="kiln monitor rules list"):
        context.db.read(get_rule, PROJECT, "fraud-watch", "drifting")
    with pytest.raises(NotFound):
        rule(context, "x", "rows > 1", monitor="nobody")
    context.db.run(delete_monitor, PROJECT, "fraud-watch")
    watch(context)
    assert context.db.read(list_rules, PROJECT, "fraud-watch") == []  # deleted with it


def test_values_in_titles() -> None:
    assert [format_value(v) for v in (0.4, 3.0, 0.3333, 0.004, 1234.5, 0.0)] == [
        "0.40",
        "3",
        "0.33",
        "0.004",
        "1234.50",
        "0",
    ]


# --- evaluation -----------------------------------------------------------------------


def test_rules_fire_once_per_window_with_the_evidence_of_its_report(
    context: Context, windows: list[MonitorResult]
) -> None:
    clean, drifted = windows
    rule(context, "drifting", "drift.share > 0.3", severity="critical")
    rule(context, "accuracy", "performance.accuracy < 2")  # holds whenever labels exist
    rule(context, "fair", "fairness.city.demographic_parity_difference >= 0")
    rule(context, "quality", "quality.findings >= 1")
    rule(context, "ghost", "drift.no_such_column.drift >= 0")
    rule(context, "off", "rows > 0", enabled=False)

    alerts = evaluate_rules(context, PROJECT, "fraud-watch", reversed(windows))

    assert [(a.details["rule"], a.details["window"]["start"]) for a in alerts] == [
        ("fair", clean.start.isoformat()),
        ("accuracy", drifted.start.isoformat()),
        ("drifting", drifted.start.isoformat()),
        ("fair", drifted.start.isoformat()),
        ("quality", drifted.start.isoformat()),
    ]
    by_rule = {a.details["rule"]: a for a in alerts}
    drift = by_rule["drifting"]
    share = drifted.metrics["drift.share"]
    assert drift.title == f"fraud-watch: drift.share {share:.2f} > 0.3"
    assert (drift.kind, drift.severity, drift.status) == ("monitor", "critical", AlertStatus.OPEN)
    assert (drift.subject_kind, drift.subject_id) == ("monitor", "fraud-watch")
    assert drift.report_digest == drifted.digest
    assert drift.details | {"evidence": None} == {
        "rule": "drifting",
        "condition": "drift.share > 0.3",
        "metric": "drift.share",
        "operator": ">",
        "threshold": 0.3,
        "value": share,
        "monitor": "fraud-watch",
        "window": {"start": drifted.start.isoformat(), "end": drifted.end.isoformat()},
        "rows": 600,
        "evidence": None,
    }
    (column,) = drift.details["evidence"]["columns"]
    assert column["column"] == "amount"
    assert column["drift"] is True
    assert {"test", "statistic", "threshold"} <= set(column)
    performance = by_rule["accuracy"].details["evidence"]
    assert next(iter(performance["metrics"])) == "accuracy"
    assert performance["labeled"] == 200
    assert len(performance["metrics"]) <= 10
    fairness = by_rule["fair"].details["evidence"]
    assert fairness["attribute"] == "city"
    assert {g["group"] for g in fairness["groups"]} == {"paris", "lyon", "nice"}
    assert all("selection_rate" in g for g in fairness["groups"])
    findings = by_rule["quality"].details["evidence"]["findings"]
    assert findings[0]["check"] == "out_of_range"

    # The same windows, evaluated again (as each check does), fire nothing more.
    again = evaluate_monitor(context, PROJECT, "fraud-watch", since=START, until=START + 2 * HOUR)
    assert evaluate_rules(context, PROJECT, "fraud-watch", again) == []
    # Nor does a rule changed in place: it keeps the windows it fired on.
    rule(context, "drifting", "drift.share > 0.1", replace=True)
    assert evaluate_rules(context, PROJECT, "fraud-watch", again) == []
    assert len(context.db.read(list_alerts, PROJECT, subject_id="fraud-watch")) == 5
    fired = context.db.read(get_rule, PROJECT, "fraud-watch", "drifting").last_fired_window
    assert fired == drifted.end


def test_an_absent_metric_does_not_fire_and_is_no_error(context: Context) -> None:
    create_profile(context, PROJECT, "fraud-ref", reference())
    watch(context, task="classification")
    log_requests(context, reference(200, seed=1), at=START)
    results = evaluate_monitor(context, PROJECT, "fraud-watch", since=START, until=START + HOUR)
    assert "performance.f1" not in results[0].metrics  # no labels yet
    rule(context, "f1", "performance.f1 < 0.99")
    assert evaluate_rules(context, PROJECT, "fraud-watch", results) == []
    assert context.db.read(get_rule, PROJECT, "fraud-watch", "f1").last_fired_window is None


def test_results_of_another_monitor_are_refused(
    context: Context, windows: list[MonitorResult]
) -> None:
    watch(context, "other")
    with pytest.raises(InvalidInput) as caught:
        evaluate_rules(context, PROJECT, "other", windows)
    assert caught.value.field == "results"


def test_two_evaluations_at_once_raise_one_alert_per_window(
    make_context: Callable[..., Context],
    database_url: str,
    context: Context,
    windows: list[MonitorResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both processes read the rule before either fires it: the compare-and-set decides."""
    rule(context, "drifting", "drift.share > 0.3")
    barrier = threading.Barrier(2)
    original = _rule_evaluation._report

    def in_step(*args: Any) -> Any:
        barrier.wait(timeout=30)  # both have read last_fired_window, neither has fired
        return original(*args)

    monkeypatch.setattr(_rule_evaluation, "_report", in_step)
    contexts = [make_context(database_url=database_url) for _ in range(2)]

    def evaluate(own: Context) -> int:
        return len(evaluate_rules(own, PROJECT, "fraud-watch", windows))

    with ThreadPoolExecutor(2) as pool:
        raised = sorted(pool.map(evaluate, contexts))

    assert raised == [0, 1]
    (alert,) = context.db.read(list_alerts, PROJECT, subject_id="fraud-watch")
    assert alert.details["window"]["end"] == windows[1].end.isoformat()


def test_each_alert_is_delivered_to_its_rules_sinks(
    context: Context, windows: list[MonitorResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEBHOOK_ALLOW_ENV, "127.0.0.1")
    with http_receiver() as receiver:
        sinks = [
            {"kind": "webhook", "url": "http://127.0.0.1:9/unreachable", "timeout": 1},
            {"kind": "webhook", "url": f"{receiver.url}/alerts"},
            {"kind": "log"},
        ]
        rule(context, "drifting", "drift.share > 0.3", sinks=sinks)
        (alert,) = evaluate_rules(context, PROJECT, "fraud-watch", windows, backoff=0.01)
    deliveries = context.db.read(list_deliveries, PROJECT, alert.id)
    assert [(d.sink, d.status, d.attempts) for d in deliveries] == [
        ("webhook:http://127.0.0.1:9", DeliveryStatus.FAILED, 3),
        (f"webhook:{receiver.url}", DeliveryStatus.DELIVERED, 1),
        ("log", DeliveryStatus.DELIVERED, 1),
    ]
    (request,) = receiver.requests
    body = request.json()
    assert (body["kiln_alert"], body["id"], body["title"]) == (1, alert.id, alert.title)
    assert body["details"]["evidence"]["columns"][0]["column"] == "amount"
