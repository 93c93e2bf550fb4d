"""Iris, a real classifier registered in a context, and labeling projects and logs around it.

For the tests of the model-driven verbs over REST and the CLI: each helper
works on the context it is given through the services those adapters call.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from kiln.context import Context, using_context
from kiln.labeling import _intake, _projects, _tasks

IRIS = load_iris(as_frame=True)
FEATURES = list(IRIS.data.columns)
SPECIES = [str(name) for name in IRIS.target_names]
TRUTH = IRIS.target.map(dict(enumerate(SPECIES)))
#: Rows given a clearly wrong answer by label_all: confident learning should flag them.
FLIPPED = {3: "virginica", 60: "setosa", 120: "setosa"}
MODEL = "iris"
DEPLOYMENT = "iris-api"
#: When the logged requests start (one a minute).
START = datetime(2026, 12, 1, tzinfo=UTC)


def iris_model(context: Context) -> tuple[LogisticRegression, str]:
    """A logistic regression registered as ``iris`` v1 with alias ``champion``; its URI."""
    import kiln

    model = LogisticRegression(max_iter=500).fit(IRIS.data, TRUTH)
    with using_context(context):
        with kiln.start_run(run_name="iris"):
            logged = kiln.log_model(model, "model", input_example=IRIS.data.head(5))
        version = kiln.register_model(logged.uri, MODEL).version
        kiln.set_alias(MODEL, "champion", version)
    return model, f"models:/{MODEL}/{version}"


def iris_project(context: Context, name: str, labels: list[str] | None = None) -> None:
    """A tabular classification project with the 150 flowers as tasks (keys 0-149)."""
    project = context.settings.project
    schema = {"task_type": "classification", "data_kind": "tabular", "labels": labels or SPECIES}
    context.db.run(_projects.create_project, project, name, schema, user="seed")
    table = pa.Table.from_pandas(IRIS.data, preserve_index=False)
    _intake.add_from_table(context, project, name, table)


def label_all(context: Context, name: str, annotator: str = "ana") -> None:
    """Answer every task of ``name``: the true species, except the rows of ``FLIPPED``."""
    project = context.settings.project
    while (task := context.db.read(_tasks.next_task, project, name, annotator)) is not None:
        row = int(task.item_key)
        context.db.run(
            _tasks.submit, project, name, task.id, annotator, FLIPPED.get(row, TRUTH[row])
        )


def log_predictions(context: Context, model: LogisticRegression, version: int) -> None:
    """15 requests of 10 flowers each answered by ``iris`` in the log of ``DEPLOYMENT``."""
    from kiln.serving._prediction_log import PredictionLog, PredictionRecord

    log = PredictionLog(context, project=context.settings.project)
    for n in range(15):
        part = IRIS.data.iloc[n * 10 : (n + 1) * 10]
        log.record(
            PredictionRecord(
                request_id=f"q{n}",
                deployment=DEPLOYMENT,
                model=MODEL,
                version=version,
                route="primary",
                inputs={c: part[c].tolist() for c in FEATURES},
                outputs={
                    "predictions": model.predict(part).tolist(),
                    "probabilities": model.predict_proba(part).tolist(),
                },
                n_rows=10,
                latency_ms=1.0,
                time=START + timedelta(minutes=n),
            )
        )
    log.flush()
    log.close()


def unsure_keys(model: LogisticRegression, threshold: float) -> set[str]:
    """The task keys (``q<request>:<row>``) the model answered less sure than ``threshold``."""
    confidence = model.predict_proba(IRIS.data).max(axis=1)
    return {f"q{i // 10}:{i % 10}" for i, c in enumerate(confidence) if c < threshold}


def doubted(model: LogisticRegression, k: int) -> set[str]:
    """The keys of the ``k`` flowers with the smallest margin between the two likeliest."""
    import numpy as np

    ordered = np.sort(model.predict_proba(IRIS.data), axis=1)
    margins = ordered[:, -1] - ordered[:, -2]
    return {str(i) for i in np.argsort(margins, kind="stable")[:k]}
