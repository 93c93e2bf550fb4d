"""The demo's monitoring stage: drift injected into live traffic, found, alerted on, retrained.

The loop runs on a model of its own, ``fraud-live-detector`` (trained here
once, in the ``live-retraining`` experiment), behind a deployment of its
own, ``fraud-live``, so that retraining and promotion leave the registry
stage's ``fraud-detector`` as it was and the monitor reads only this
stage's traffic: payments of the *reference*
window with one fault injected (the geolocation feed sends miles where
``distance_from_home_km`` expects kilometres, so every distance is read
``MILES_AS_KM`` times too long) and every other feature as it was.

The stage profiles the reference window once (with the champion's
predictions), sends the traffic over HTTP, posts the outcomes as labels and
evaluates a monitor of the deployment: it must flag that one column and no
other. Its drift rule raises an alert, and the alert starts the retraining
pipeline (``kiln.demo._retrain``), which trains a challenger and promotes
it only through the registry's gate. The stage waits for that run and
writes the monitor's HTML report.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kiln.demo import DEMO_PROJECT

if TYPE_CHECKING:
    import pandas as pd

    from kiln.context import Context
    from kiln.demo._run import DemoState

DEPLOYMENT = "fraud-live"
MONITOR = "fraud-live-drift"
PROFILE = "fraud-reference"
DRIFTED = "distance_from_home_km"
MILES_AS_KM = 1.609344
ROWS = 1_200
ROWS_PER_REQUEST = 20
RETRAIN = "kiln.demo._retrain:retrain"


def _champion(state: DemoState) -> int:
    """The live model's champion: trained on the reference window the first time, then kept."""
    import kiln
    from kiln import registry
    from kiln.demo._retrain import EXPERIMENT, MODEL
    from kiln.demo._training import FEATURES, LABEL, feature_frame
    from kiln.errors import NotFound
    from kiln.models import log_model

    try:
        return registry.get_model_version_by_alias(MODEL, "champion").version
    except NotFound:
        pass
    from sklearn.ensemble import HistGradientBoostingClassifier

    assert state.reference is not None, "the data stage runs first"
    frame = feature_frame(state.reference).dropna()
    model = HistGradientBoostingClassifier(max_iter=100, random_state=state.seed)
    with kiln.start_run(experiment=EXPERIMENT, run_name="live-champion"):
        model.fit(frame[FEATURES], frame[LABEL].to_numpy())
        logged = log_model(model, "model", input_example=frame[FEATURES].head(20))
    version = registry.register_model(logged.uri, MODEL, description="the live loop's model")
    registry.set_alias(MODEL, "champion", version.version, note="kiln demo")
    return version.version


def _reference(state: DemoState) -> pd.DataFrame:
    """The reference window's features with the live champion's predictions."""
    from kiln import registry
    from kiln.demo._retrain import MODEL
    from kiln.demo._training import FEATURES, feature_frame

    assert state.reference is not None, "the data stage runs first"
    frame = feature_frame(state.reference).dropna()
    champion = registry.load_model(f"models:/{MODEL}@champion")
    return frame[FEATURES].assign(predictions=champion.predict(frame[FEATURES]))


def _live_rows(state: DemoState) -> pd.DataFrame:
    """Reference-window payments with the injected fault, and their outcomes."""
    from kiln.demo._training import FEATURES, LABEL, feature_frame

    assert state.reference is not None
    frame = feature_frame(state.reference).dropna()
    rows = frame.sample(n=min(ROWS, len(frame)), random_state=state.seed + 1)
    rows = rows[[*FEATURES, LABEL]].reset_index(drop=True)
    rows[DRIFTED] = rows[DRIFTED] * MILES_AS_KM
    return rows


def _serve(context: Context, rows: pd.DataFrame) -> list[str]:
    """Send ``rows`` to the deployment, ``ROWS_PER_REQUEST`` per request; the request ids."""
    import httpx

    from kiln.demo._training import FEATURES
    from kiln.server.background import BackgroundServer
    from kiln.serving import create_app

    app = create_app(deployments=[DEPLOYMENT], context=context, poll_seconds=1.0)
    ids = []
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        deadline = time.monotonic() + 60
        while client.get("/v2/health/ready").status_code != 200:
            if time.monotonic() > deadline:
                from kiln.errors import KilnError

                raise KilnError(f"deployment {DEPLOYMENT!r} did not become ready")
            time.sleep(0.05)
        for start in range(0, len(rows), ROWS_PER_REQUEST):
            records = rows.iloc[start : start + ROWS_PER_REQUEST][FEATURES].to_dict("records")
            response = client.post(
                f"/v1/deployments/{DEPLOYMENT}/predict", json={"records": records}
            )
            response.raise_for_status()
            ids.append(response.json()["request_id"])
    return ids


def _deploy(context: Context) -> None:
    from kiln.demo._retrain import MODEL
    from kiln.demo._run import DEMO_USER
    from kiln.errors import AlreadyExists
    from kiln.serving._deployments import create_deployment, set_traffic

    policy = {"arms": [{"name": f"{MODEL}@champion", "weight": 100}]}
    try:
        context.db.run(create_deployment, DEMO_PROJECT, DEPLOYMENT, policy, user=DEMO_USER)
    except AlreadyExists:
        context.db.run(set_traffic, DEMO_PROJECT, DEPLOYMENT, policy, user=DEMO_USER)


def _monitor(context: Context, state: DemoState) -> None:
    from kiln.demo._run import DEMO_USER
    from kiln.monitoring._monitors import create_monitor
    from kiln.monitoring._profiles import create_profile
    from kiln.monitoring._rules import create_rule

    create_profile(context, DEMO_PROJECT, PROFILE, _reference(state), user=DEMO_USER)
    spec = {
        "profile": PROFILE,
        "window": "1d",
        "task": "classification",
        "positive": 1,
        "explain": True,
    }
    context.db.run(
        create_monitor,
        DEMO_PROJECT,
        MONITOR,
        target_kind="deployment",
        target=DEPLOYMENT,
        spec=spec,
        description="the champion's live traffic against its reference window",
        user=DEMO_USER,
        replace=True,
    )
    context.db.run(
        create_rule,
        DEMO_PROJECT,
        MONITOR,
        "feature-drift",
        metric="drift.share",
        operator=">",
        threshold=0.05,
        severity="critical",
        sinks=[{"kind": "log"}],
        pipeline=RETRAIN,
        pipeline_params={"deployment": DEPLOYMENT, "reference": state.reference_ref},
        replace=True,
    )


def _await_run(context: Context, run_id: str, timeout: float = 150.0) -> Any:
    from kiln.errors import NotFound
    from kiln.pipelines._records import get_pipeline_run

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            run = context.db.read(get_pipeline_run, DEMO_PROJECT, run_id)
        except NotFound:
            run = None
        if run is not None and run.status.value != "RUNNING":
            return run
        time.sleep(0.5)
    return None


def stage_monitoring(state: DemoState) -> str:
    """Inject drift into live traffic; the monitor finds it, alerts, retrains, promotes."""
    import orjson

    import kiln
    from kiln import registry
    from kiln.demo._retrain import MODEL
    from kiln.demo._training import LABEL
    from kiln.monitoring._evaluate import evaluate_monitor
    from kiln.monitoring._report import monitor_report, write_report
    from kiln.monitoring._rule_evaluation import evaluate_rules
    from kiln.pipelines import load_output
    from kiln.serving._predictions_labels import post_labels

    context = state.context
    serving = kiln.configure(context.settings.model_copy(update={"project": DEMO_PROJECT}))
    before = _champion(state)
    _deploy(context)
    _monitor(context, state)
    rows = _live_rows(state)
    since = datetime.now(UTC)
    ids = _serve(serving, rows)
    labels = rows[LABEL].astype(int).tolist()
    chunks = {
        request_id: labels[i * ROWS_PER_REQUEST : (i + 1) * ROWS_PER_REQUEST]
        for i, request_id in enumerate(ids)
    }
    context.db.run(post_labels, DEMO_PROJECT, DEPLOYMENT, chunks)

    results = evaluate_monitor(context, DEMO_PROJECT, MONITOR, since=since)
    latest = results[-1]
    drifted = sorted(
        key.split(".")[1]
        for key, value in latest.metrics.items()
        if key.startswith("drift.") and key.endswith(".drift") and value == 1
    )
    alerts = evaluate_rules(serving, DEMO_PROJECT, MONITOR, results)
    outcome = "no alert"
    if alerts:
        pipeline = alerts[0].details.get("pipeline") or {}
        run = _await_run(context, str(pipeline.get("run_id", "")))
        if run is None:
            outcome = f"alert {alerts[0].id} raised; the retraining run did not finish in time"
        elif run.status.value != "SUCCEEDED":
            outcome = f"alert {alerts[0].id} raised; retraining run {run.id[:8]} {run.status.value}"
        else:
            won = load_output(
                run.id, "retrain_and_challenge", context=context, project=DEMO_PROJECT
            )
            after = registry.get_model_version_by_alias(MODEL, "champion").version
            verdict = (
                f"promoted v{won['challenger']} over v{before} through the gate"
                if won["promoted"]
                else f"kept v{after}: the gate refused v{won['challenger']} ({won['reason']})"
            )
            auc = won["metrics"]
            outcome = (
                f"alert {alerts[0].id} started retraining run {run.id[:8]}; challenger ROC AUC "
                f"{auc['challenger'].get('roc_auc') or 0:.3f} vs champion "
                f"{auc.get('champion', {}).get('roc_auc') or 0:.3f} on fresh labels: {verdict}"
            )
    report = write_report(
        monitor_report(context, DEMO_PROJECT, MONITOR),
        context.settings.home / "demo" / "reports",
        stem=MONITOR,
    )
    exact = "exactly the injected column" if drifted == [DRIFTED] else f"expected only {DRIFTED}"
    window = orjson.loads(context.artifacts.read_bytes(latest.digest))
    ranked = (window.get("explanations") or {}).get("importance") or []
    leaders = ", ".join(item["feature"] for item in ranked[:3]) or "none"
    state.look_here += [
        f"the monitoring report (open in a browser): {report.html}",
        f"the monitor's windows: kiln --project {DEMO_PROJECT} monitor show {MONITOR}",
    ]
    return (
        f"{len(ids)} requests ({len(rows)} rows) with {DRIFTED} in miles read as km: "
        f"drift share {latest.metrics.get('drift.share', 0):.2f}, drifted "
        f"{', '.join(drifted) or 'nothing'} ({exact}); the champion leaned most on {leaders}; "
        f"{outcome}; report {report.html}"
    )
