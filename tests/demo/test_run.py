"""The end-to-end demo runs on a fresh embedded store, twice, and says where to look."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import timedelta

from rich.console import Console

from kiln import auth
from kiln.context import Context
from kiln.demo import DEMO_PROJECT
from kiln.demo._run import DEMO_USER, DemoState, run


def test_demo_runs_twice_and_reports_each_stage(make_context: Callable[..., Context]) -> None:
    context = make_context()
    texts = []
    for _ in range(2):  # re-running is harmless
        out = io.StringIO()
        state = run(context, n_transactions=5_000, console=Console(file=out, width=200))
        text = out.getvalue()
        texts.append(" ".join(text.split()))  # as one line: the console wraps long summaries
        for number, stage in enumerate(
            (
                "Stores",
                "Project and access",
                "Demo data",
                "Feature store: definitions → point-in-time training set → online",
                "Pipeline: ingest → check → features → train → evaluate → register",
                "Quality gate on drifted data",
                "Model registry",
                "Serving: canary, shadow, prediction log",
                "Monitoring: drift → alert → retrain → gated promotion",
                "Tuning: 20 trials, 2 in parallel → the best through the gate",
                "Labeling: active learning against random, then the loop on digits",
                "MLflow compatibility",
                "Web UI",
                "Server",
            ),
            start=1,
        ):
            assert f"✓ {number}. {stage}" in text
        assert "with 10 of 10 steps cached" in text
        assert "on the drifted window PAUSED at its gate" in text
        assert "categories[channel]" in text  # the summary names the failed checks
        assert "flagged stale" in text
        assert "no token → 401" in text
        assert "viewer's write → 403" in text
        assert "revoked token → 401" in text
        assert "study fraud-hgb: 20 trials, 2 at a time" in texts[-1]
        assert "tuning-fraud-hgb.html" in texts[-1]
        assert "margin sampling reaches 90 % accuracy with" in texts[-1]
        assert "active-vs-random.html" in texts[-1]
        assert "Where to look" in text
        assert str(context.settings.home / "demo" / "data") in text
        assert "training set of 5,000 payments from fraud_features" in texts[-1]
        assert f"kiln --project {DEMO_PROJECT} features describe fraud_features" in texts[-1]
        assert f":{context.settings.port}/features" in texts[-1]
    assert state.reference is not None
    assert len(state.reference.transactions) == 5_000
    assert len(state.blobs) == 6
    assert [c.name for c in state.candidates] != []
    assert all(c.auc > 0.6 for c in state.candidates)  # 5,000 rows: a small sample
    assert "is champion through its gate (auc-floor passed" in text
    assert "Kiln's SDK loads it (100%" in text
    assert "12 pages rendered over the demo project" in texts[-1]
    import kiln
    from kiln import registry

    kiln.configure(context.settings.model_copy(update={"project": DEMO_PROJECT}))
    champion = registry.get_model_version_by_alias("fraud-detector", "champion")
    assert champion.version >= 1
    history = registry.alias_history("fraud-detector", "champion")
    assert all(result.passed for event in history for result in event.results)
    assert all(context.artifacts.exists(digest) for digest in state.blobs.values())
    from kiln.pipelines import list_pipeline_runs

    runs = context.db.read(list_pipeline_runs, DEMO_PROJECT, limit=100)
    assert [r.status.value for r in runs].count("PAUSED") == 2  # one drifted run per demo
    # The monitoring stage's alert started one retraining run (the second demo's window
    # had fired its rule already).
    assert sorted(r.pipeline for r in runs if r.pipeline != "fraud_training") == ["retrain"]
    reports = sorted((context.settings.home / "demo" / "reports").glob("gate-*.html"))
    assert len(reports) == 2
    page = reports[-1].read_text()
    assert "moto" in page  # the evidence, readable
    assert "transaction_id" in page
    db = context.db
    assert db.read(auth.member_role, DEMO_PROJECT, DEMO_USER) is auth.Role.EDITOR
    live = db.read(auth.list_tokens, user=DEMO_USER)
    assert len(live) == 1  # the earlier run's token was revoked
    actions = {e.action for e in db.read(auth.list_entries, project=DEMO_PROJECT, limit=1000)}
    assert {"create_token", "update_project", "revoke_token"} <= actions
    _check_feature_stage(make_context(project=DEMO_PROJECT), state, texts)
    _check_serving_stage(context, texts)
    _check_monitoring_stage(context, texts)


def _check_feature_stage(demo: Context, state: DemoState, texts: list[str]) -> None:
    """Applied once (the re-run changes nothing), a full training set, customers online, a model.

    ``demo`` is a context of the demo's store in its project.
    """
    from kiln import registry
    from kiln.demo import _features
    from kiln.features import FeatureStore

    assert "apply: 6 added (customer v1, merchant v1, customer_activity v1" in texts[0]
    assert "apply: nothing changed (6 definitions as applied before)" in texts[1]
    assert state.reference is not None
    tx = state.reference.transactions
    store = FeatureStore(demo)
    try:
        applied = store.definitions()
        assert set(applied.views) == {"customer_activity", "merchant_history"}
        assert set(applied.on_demand) == {"payment_context"}
        assert set(applied.services) == {"fraud_features"}
        assert store.version_of("feature_view", "customer_activity") == 1  # still v1
        training = store.get_historical_features(
            _features.training_entities(tx), "fraud_features", timestamp=_features.SCORED_AT
        )
        assert training["transaction_id"].tolist() == tx["transaction_id"].tolist()
        end = state.reference.config.window_end.to_pydatetime()
        last = tx.groupby("customer_id")["event_timestamp"].max()
        active = last[last >= end - timedelta(days=7)].index
        found = store.get_online_features(
            {"customer_id": list(tx["customer_id"].unique())},
            ["customer_activity:tx_count_7d"],
            now=end,
        )
        present = {
            key
            for key, status in zip(
                found.values["customer_id"], found.statuses["tx_count_7d"], strict=True
            )
            if status == "present"
        }
        assert present == set(active)  # every customer of the last week, and only them
    finally:
        store.close()
    version = registry.get_model_version(_features.ONLINE_MODEL, 2)  # one per demo run
    assert version.run_id is not None
    assert version.tags["kiln.feature_service"] == "fraud_features"  # inherited from its run
    assert json.loads(version.tags["kiln.feature_views"]) == {
        "customer_activity": 1,
        "merchant_history": 1,
        "payment_context": 1,
    }


def _check_serving_stage(context: Context, texts: list[str]) -> None:
    """Each demo sent 300 requests through both canary arms, all shadowed, logged and exported.

    The second demo finds the deployment as the first left it: no new revision.
    """
    from collections import Counter

    from kiln.data import _service as datasets
    from kiln.serving._deployments import deployment_history
    from kiln.serving._predictions_index import read_predictions

    assert "deployment fraud r1 (created), sticky by customer_id: 300 requests" in texts[0]
    assert "deployment fraud r1 (unchanged)" in texts[1]
    for text in texts:
        assert "(challenger, canary 10%), and " in text
        assert "never registered, shadowed 300 and agreed on" in text
        assert "exported (300 rows)" in text
    assert [e.action for e in context.db.read(deployment_history, DEMO_PROJECT, "fraud")] == [
        "create"
    ]
    log = read_predictions(context, DEMO_PROJECT, "fraud").to_pylist()
    routes = Counter(row["route"] for row in log)
    assert routes == {"primary": 600, "shadow": 600}
    by_version = Counter(row["version"] for row in log if row["route"] == "primary")
    assert set(by_version) == {1, 2}  # champion and canary both answered
    assert 0.03 < by_version[2] / 600 < 0.2
    primary = {row["request_id"] for row in log if row["route"] == "primary"}
    assert primary == {row["request_id"] for row in log if row["route"] == "shadow"}
    assert {row["version"] for row in log if row["route"] == "shadow"} == {None}
    exported = datasets.load(context.db, context.artifacts, DEMO_PROJECT, "fraud-labeled@latest")
    assert exported.num_rows == 300
    assert exported.column_names[-1] == "is_fraud"  # the features, then the label


def _check_monitoring_stage(context: Context, texts: list[str]) -> None:
    """The injected column, and only it, is found; the first run's alert retrains and challenges.

    The second demo's traffic lands in the same daily window, which has fired
    its rule already: it finds the drift again but raises no second alert.
    """
    from kiln.alerts import list_alerts

    for text in texts:
        assert "drifted distance_from_home_km (exactly the injected column)" in text
        assert "fraud-live-drift.html" in text
        assert "the champion leaned most on distance_from_home_km" in text  # TreeSHAP
    assert "started retraining run" in texts[0]
    assert "on fresh labels:" in texts[0]
    assert "no alert" in texts[1]
    alerts = context.db.read(list_alerts, DEMO_PROJECT, subject_kind="monitor")
    assert len(alerts) == 1
    assert alerts[0].details["metric"] == "drift.share"
    report = context.settings.home / "demo" / "reports" / "fraud-live-drift.html"
    assert "distance_from_home_km" in report.read_text(encoding="utf-8")
