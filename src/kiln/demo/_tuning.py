"""The demo's tuning stage: 20 trials, two at a time, then the best through the champion's gate.

The study tunes a histogram gradient-boosting classifier on the reference
window, split by time as the pipeline splits it (first 75 % to fit, last
25 % to score). Each trial grows its trees in rounds and reports the
holdout AUC after each, so the median pruner stops trials that fall behind.
The best parameters then train a version of ``fraud-tuned``, which
becomes its champion only if the registry's gate lets it: above the AUC
floor and better than the champion before it. Running the demo again
resumes the study (it has its 20 trials) and meets the gate again.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from kiln.demo._run import DemoState

STUDY = "fraud-hgb"
#: The tuned model's own name, so the registry stage's fraud-detector (and what the
#: serving stage deploys) stays as it was.
MODEL = "fraud-tuned"
EXPERIMENT = "hgb-tuning"
TRIALS = 20
PARALLEL = 2
ROUNDS = (40, 80, 120)


@cache
def _frames(path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    from kiln.demo._training import split_by_time

    return split_by_time(pd.read_parquet(path))


def _model(params: dict[str, Any], max_iter: int, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        learning_rate=params["learning_rate"],
        max_leaf_nodes=params["max_leaf_nodes"],
        min_samples_leaf=params["min_samples_leaf"],
        l2_regularization=params["l2_regularization"],
        max_iter=max_iter,
        early_stopping=False,
        warm_start=True,
        random_state=seed,
    )


def _auc(model: Any, holdout: pd.DataFrame) -> float:
    from sklearn.metrics import roc_auc_score

    from kiln.demo._training import FEATURES, LABEL

    return float(roc_auc_score(holdout[LABEL], model.predict_proba(holdout[FEATURES])[:, 1]))


class FraudObjective:
    """Holdout AUC of a gradient-boosting model, reported after each round of trees.

    A class at module level holding only the features' path, so worker
    processes receive it small and read the features once each.
    """

    def __init__(self, features: Path, seed: int) -> None:
        self.features = str(features)
        self.seed = seed

    def __call__(self, params: dict[str, Any]) -> float:
        from kiln.demo._training import FEATURES, LABEL
        from kiln.training import report

        fit_rows, holdout = _frames(self.features)
        model = _model(params, ROUNDS[0], self.seed)
        auc = 0.0
        for step, rounds in enumerate(ROUNDS):
            model.set_params(max_iter=rounds)
            model.fit(fit_rows[FEATURES], fit_rows[LABEL].to_numpy())
            auc = _auc(model, holdout)
            report(auc, step)  # a trial behind the median at this round is pruned here
        return auc


def _train(features: Path, seed: int) -> Any:
    def train(params: dict[str, Any]) -> Any:
        import kiln
        from kiln.demo._training import FEATURES, LABEL

        fit_rows, holdout = _frames(str(features))
        model = _model(params, ROUNDS[-1], seed)
        model.fit(fit_rows[FEATURES], fit_rows[LABEL].to_numpy())
        kiln.log_metric("auc", _auc(model, holdout))
        return model

    return train


def stage_tuning(state: DemoState) -> str:
    """Tune, then put the best model through the champion's gate."""
    import kiln
    from kiln import registry
    from kiln.demo import DEMO_PROJECT
    from kiln.demo._run import CHAMPION_GATE
    from kiln.demo._training import FEATURES, feature_frame
    from kiln.errors import Conflict
    from kiln.training import Float, Int, tune
    from kiln.training._result import REPORT_PATH

    assert state.reference is not None, "the data stage runs first"
    folder = state.context.settings.home / "demo" / "tuning"
    folder.mkdir(parents=True, exist_ok=True)
    features = folder / "reference-features.parquet"
    frame = feature_frame(state.reference).dropna()
    frame.to_parquet(features)
    result = tune(
        FraudObjective(features, state.seed),
        space={
            "learning_rate": Float(0.03, 0.3, log=True),
            "max_leaf_nodes": Int(8, 48),
            "min_samples_leaf": Int(10, 80),
            "l2_regularization": Float(1e-4, 1.0, log=True),
        },
        study=STUDY,
        experiment=EXPERIMENT,
        n_trials=TRIALS,
        direction="maximize",
        metric_names=["auc"],
        pruner="median",
        parallelism=PARALLEL,
        resources={"cpu": 1},
        seed=state.seed,
        progress=False,
    )
    report = state.context.settings.home / "demo" / "reports" / f"tuning-{STUDY}.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    assert result.run_id is not None
    (artifact,) = kiln.list_artifacts(result.run_id, REPORT_PATH)
    state.context.artifacts.copy_to(artifact.digest, report)
    states = result.summary.states
    pruned = states.get("PRUNED", 0)
    best = result.best_trial
    final = result.fit_best(
        _train(features, state.seed), register=MODEL, input_example=frame[FEATURES].head(20)
    )
    assert final.version is not None
    registry.set_gate(MODEL, "champion", CHAMPION_GATE)
    try:
        registry.set_alias(MODEL, "champion", final.version.version, note="kiln demo: tuned")
        verdict = f"{MODEL} v{final.version.version} is champion through its gate"
    except Conflict as refused:  # a re-run's model is no better than the champion it made
        verdict = f"the gate kept {MODEL}'s champion ({str(refused).split(':')[0]})"
    state.look_here += [
        f"the study's plots (open in a browser): {report}",
        f"the study: kiln --project {DEMO_PROJECT} tune show {STUDY}",
    ]
    return (
        f"study {STUDY}: {result.summary.n_trials} trials, {PARALLEL} at a time "
        f"({states.get('COMPLETE', 0)} complete, {pruned} pruned); best trial {best.number} "
        f"AUC {result.best_value:.3f}; {verdict}; report {report}"
    )
