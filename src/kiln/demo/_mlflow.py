"""The demo's MLflow stage: unchanged ``mlflow`` code logs to Kiln, and models cross both ways.

A background ``kiln server`` answers the stock ``mlflow`` client: it logs a
baseline run into the same ``fraud`` experiment as Kiln's own runs, logs its
model with ``mlflow.sklearn.log_model`` and registers it. Kiln's SDK then
loads that MLflow model from the registry, and ``mlflow.pyfunc`` loads Kiln's
champion by alias. Needs the ``mlflow`` package (``pip install
'kiln-ml[mlflow]'``; ``make demo`` installs it); without it the stage says so.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from io import StringIO
from typing import TYPE_CHECKING, Any

import numpy as np

from kiln.demo import DEMO_PROJECT

if TYPE_CHECKING:
    from kiln.demo._run import DemoState

MLFLOW_MODEL = "fraud-detector-mlflow"


@contextmanager
def _stock_client(url: str) -> Iterator[Any]:
    """``mlflow`` pointed at ``url``, quiet, with its global state restored afterwards."""
    import mlflow

    previous_uri = mlflow.get_tracking_uri()
    logger = logging.getLogger("mlflow")
    previous_level = logger.level
    previous_pickle = os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION")
    # MLflow's gate for skops files too: Kiln's models are skops with recorded trusted types.
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"
    logger.setLevel(logging.ERROR)
    mlflow.set_tracking_uri(url)
    chatter = StringIO()  # "View run at …", "Successfully registered …": the stage says it once
    try:
        with warnings.catch_warnings(), redirect_stdout(chatter), redirect_stderr(chatter):
            warnings.simplefilter("ignore")
            yield mlflow
    finally:
        mlflow.set_tracking_uri(previous_uri)
        logger.setLevel(previous_level)
        if previous_pickle is None:
            os.environ.pop("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", None)
        else:
            os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = previous_pickle


def stage_mlflow(state: DemoState) -> str:
    """The stock MLflow client against ``kiln server``: runs, a model, the registry."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return (
            "skipped: the mlflow client is not installed here "
            "(pip install 'kiln-ml[mlflow]', or run `make demo`)"
        )
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from kiln import registry
    from kiln.context import Context
    from kiln.demo._training import FEATURES, LABEL, feature_frame, split_by_time
    from kiln.server import create_app
    from kiln.server.background import BackgroundServer

    assert state.reference is not None
    assert state.current is not None
    train, test = split_by_time(feature_frame(state.reference))
    model = LogisticRegression(C=0.5, max_iter=300)
    settings = state.context.settings.model_copy(update={"project": DEMO_PROJECT})
    served = Context(settings)
    with BackgroundServer(create_app(served)) as url, _stock_client(url) as stock:
        stock.set_experiment("fraud")
        with stock.start_run(run_name="mlflow-baseline") as run:
            stock.log_params({"model": "logistic_regression", "C": 0.5, "client": "mlflow"})
            for step, share in enumerate((0.25, 0.5, 1.0)):
                part = train.iloc[: int(len(train) * share)]
                model.fit(part[FEATURES], part[LABEL])
                scores = model.predict_proba(test[FEATURES])[:, 1]
                stock.log_metric("auc", float(roc_auc_score(test[LABEL], scores)), step=step)
            info = stock.sklearn.log_model(model, name="model", input_example=test[FEATURES][:5])
        version = stock.register_model(info.model_uri, MLFLOW_MODEL)
        stock.MlflowClient().set_registered_model_alias(MLFLOW_MODEL, "baseline", version.version)
        kiln_champion = stock.pyfunc.load_model("models:/fraud-detector@champion")
        sample = feature_frame(state.current).dropna()[FEATURES].head(500)
        from_mlflow = np.asarray(kiln_champion.predict(sample))
    served.close()
    # Kiln's own SDK, on the embedded store the server wrote to, reads the MLflow model back.
    baseline = registry.load_model(f"models:/{MLFLOW_MODEL}@baseline")
    from_kiln = baseline.predict(sample)
    agree = float((np.asarray(from_kiln) == model.predict(sample)).mean())
    state.look_here.append(
        "your mlflow code against Kiln: kiln server --port 5000, then "
        "MLFLOW_TRACKING_URI=http://127.0.0.1:5000 python train.py (see docs/mlflow.md)"
    )
    return (
        f"the stock mlflow client logged run {run.info.run_id[:8]} (3 AUC steps) into 'fraud' and "
        f"registered {MLFLOW_MODEL} v{version.version}@baseline; Kiln's SDK loads it "
        f"({agree:.0%} of predictions match); mlflow.pyfunc loads Kiln's "
        f"fraud-detector@champion ({len(from_mlflow)} predictions)"
    )
