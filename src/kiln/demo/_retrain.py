"""The demo's retraining pipeline, started by a monitor's alert: retrain, then challenge.

An alert rule of the demo's monitor names ``kiln.demo._retrain:retrain``,
so when the drift rule fires the alert starts this pipeline (as a
``kiln pipelines run`` process) with the alert's id. It exports the live
deployment's labelled requests, trains a challenger on the reference window
plus half of them, registers it, and lets :func:`kiln.monitoring.challenge`
compare it with the champion on the other half — fresh labelled data
neither model trained on. The registry's gate decides the promotion.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from kiln.pipelines import pipeline, step

#: The live loop's own model and experiment, apart from the registry stage's.
MODEL = "fraud-live-detector"
EXPERIMENT = "live-retraining"


@step
def labelled(deployment: str) -> pd.DataFrame:
    """The deployment's labelled requests as rows (the prediction log's export)."""
    from datetime import UTC, datetime

    import kiln
    from kiln.serving._predictions_export import export_dataset

    context = kiln.get_context()
    exported = export_dataset(
        context,
        context.settings.project,
        deployment,
        since=datetime(1970, 1, 1, tzinfo=UTC),
        label_column="is_fraud",
    )
    version = exported.version
    frame: pd.DataFrame = kiln.data.load(f"{version.name}@{version.version}")
    return frame


@step
def retrain_and_challenge(
    live: pd.DataFrame, reference: str, alert_id: int, seed: int = 7
) -> dict[str, Any]:
    """Fit on the reference plus half the live rows; challenge the champion on the rest."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    import kiln
    from kiln import registry
    from kiln.demo._training import FEATURES, LABEL, features_of
    from kiln.models import log_model
    from kiln.monitoring import challenge

    fit_live = live.sample(frac=0.5, random_state=seed)
    fresh = live.drop(index=fit_live.index)
    base = features_of(kiln.data.load(reference))
    rows = pd.concat([base[[*FEATURES, LABEL]], fit_live[[*FEATURES, LABEL]]], ignore_index=True)
    model = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    with kiln.start_run(
        experiment=EXPERIMENT, run_name="retrain-after-drift", tags={"kiln.alert": str(alert_id)}
    ):
        kiln.log_params({"model": "hist_gradient_boosting", "live_rows": len(fit_live)})
        model.fit(rows[FEATURES], rows[LABEL].to_numpy())
        logged = log_model(model, "model", input_example=rows[FEATURES].head(20))
    version = registry.register_model(
        logged.uri, MODEL, description=f"retrained after alert {alert_id}"
    )
    result = challenge(
        MODEL,
        version.version,
        fresh[[*FEATURES, LABEL]],
        label=LABEL,
        metric="roc_auc",
        note=f"won the challenge after alert {alert_id}",
    )
    return result.to_dict()


@pipeline
def retrain(
    alert_id: int,
    monitor: str,
    rule: str,
    deployment: str = "fraud-live",
    reference: str = "demo-transactions@1",
    seed: int = 7,
) -> Any:
    """Retrain after ``monitor``'s ``rule`` raised alert ``alert_id``; promote through the gate."""
    return retrain_and_challenge(labelled(deployment), reference, alert_id, seed=seed)
