"""BentoML's side of ``benchmarks/serving.py``: the service it serves with ``bentoml serve``.

``serving.py`` copies this file into a temporary folder, pickles the
benchmark's HistGradientBoostingClassifier there (joblib) and starts

    bentoml serve _bentoml_side:Plain   --host 127.0.0.1 --port P --working-dir TMP
    bentoml serve _bentoml_side:Batched --host 127.0.0.1 --port P --working-dir TMP

with ``KILN_BENCH_MODEL`` set to the pickle's path, from an environment that
has BentoML 1.4 (``--bentoml-python``; BentoML's pins conflict with Kiln's, so
it usually is a venv of its own with the same scikit-learn version). Both
services take ``{"records": [{"f0": ..., ..., "f19": ...}, ...]}`` at
``POST /predict`` and answer the list of predicted classes. ``Plain`` calls
the model once per request (a sync API: BentoML runs it in its thread pool);
``Batched`` is the same API with adaptive batching, so concurrent requests'
records are concatenated into one model call. Access logs are off in both,
as ``kiln serve --no-access-log`` runs, and ``serving.py`` sets
``OMP_NUM_THREADS=1`` (one native thread per model call, as Kiln runs its
calls); everything else is BentoML's default (one worker).
"""

from __future__ import annotations

import os

import bentoml
import joblib
import pandas as pd

FEATURES = [f"f{i}" for i in range(20)]
# Rows per batched model call: 16 concurrent 100-row requests fit in one.
MAX_BATCH_ROWS = 1600
# BentoML answers 503 for requests that would wait longer than this.
MAX_LATENCY_MS = 1000


def _predict(model: object, records: list[dict[str, float]]) -> list[int]:
    frame = pd.DataFrame.from_records(records, columns=FEATURES)
    return [int(label) for label in model.predict(frame)]  # type: ignore[attr-defined]


@bentoml.service(logging={"access": {"enabled": False}})
class Plain:
    def __init__(self) -> None:
        self.model = joblib.load(os.environ["KILN_BENCH_MODEL"])

    @bentoml.api
    def predict(self, records: list[dict[str, float]]) -> list[int]:
        return _predict(self.model, records)


@bentoml.service(logging={"access": {"enabled": False}})
class Batched:
    def __init__(self) -> None:
        self.model = joblib.load(os.environ["KILN_BENCH_MODEL"])

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH_ROWS, max_latency_ms=MAX_LATENCY_MS)
    def predict(self, records: list[dict[str, float]]) -> list[int]:
        return _predict(self.model, records)
