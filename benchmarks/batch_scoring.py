"""Batch scoring throughput and memory (kiln.serving batch scoring); prints one JSON object.

    python benchmarks/batch_scoring.py
    python benchmarks/batch_scoring.py --rows 200000 --chunk-rows 16384

A HistGradientBoostingClassifier (100 iterations) trained on 20 float
features, saved in Kiln's format; 1M rows of the same features (plus an id)
in one Parquet file. Scored with the local runner into one Parquet file
(id kept beside the prediction), for ``predict`` and ``predict_proba``,
against the native estimator predicting on the whole frame already in
memory (no I/O, no signature check). Memory, measured in a fresh process
that only scores: its peak RSS after a warm-up on 10k rows and after the
two runs (``ru_maxrss``), and Arrow's peak allocation, against the size of
the feature values.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from kiln.models import save_model
from kiln.serving._batch import DEFAULT_CHUNK_ROWS, score
from kiln.serving._batch_scorer import Method

FEATURES = [f"f{i}" for i in range(20)]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train(root: Path) -> tuple[Path, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(20_000, len(FEATURES))), columns=FEATURES)
    labels = (frame["f0"] + frame["f1"] * frame["f2"] > 0).astype("int64")
    model = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(frame, labels)
    info = save_model(model, root / "model", input_example=frame.head(5))
    return info.path, model


def write_input(path: Path, rows: int) -> None:
    """The input, written in slices so this process never holds it whole as pandas."""
    rng = np.random.default_rng(1)
    step = 250_000
    schema = pa.schema([("id", pa.int64()), *((name, pa.float64()) for name in FEATURES)])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, step):
            count = min(step, rows - start)
            columns = {"id": np.arange(start, start + count)}
            columns |= {name: rng.normal(size=count) for name in FEATURES}
            writer.write_table(pa.table(columns, schema=schema))


def timed_score(
    model: Path, source: Path, out: Path, chunk_rows: int, method: Method
) -> dict[str, Any]:
    started = time.perf_counter()
    result = score(model, source, out, chunk_rows=chunk_rows, method=method, keep=["id"])
    seconds = time.perf_counter() - started
    return {
        "rows": result.rows,
        "chunks": result.chunks,
        "seconds": round(seconds, 2),
        "rows_per_second": round(result.rows / seconds),
        "output_mib": round(out.stat().st_size / 2**20, 1),
    }


def measure(root: Path, chunk_rows: int) -> dict[str, Any]:
    """Runs in a fresh process: warm up on a small slice, then score and read the peaks."""
    model_folder, source = root / "model", root / "input.parquet"
    score(model_folder, root / "warm.parquet", root / "warm-out.parquet")  # imports, first load
    before, arrow_before = peak_rss_mib(), pa.default_memory_pool().max_memory() / 2**20
    predict = timed_score(model_folder, source, root / "p.parquet", chunk_rows, "predict")
    proba = timed_score(model_folder, source, root / "q.parquet", chunk_rows, "predict_proba")
    return {
        "local_predict": predict,
        "local_predict_proba": proba,
        "peak_rss_mib_after_warm_up": round(before, 1),
        "peak_rss_mib_after_scoring": round(peak_rss_mib(), 1),
        "peak_rss_growth_mib": round(peak_rss_mib() - before, 1),
        "arrow_peak_mib_warm_up": round(arrow_before, 1),
        "arrow_peak_mib": round(pa.default_memory_pool().max_memory() / 2**20, 1),
    }


def native(model: Any, source: Path) -> dict[str, Any]:
    frame = pq.read_table(source, columns=FEATURES).to_pandas()
    started = time.perf_counter()
    model.predict(frame)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "rows_per_second": round(len(frame) / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kiln-bench-batch-") as folder:
        root = Path(folder)
        _, model = train(root)
        write_input(root / "input.parquet", args.rows)
        warm = pq.ParquetFile(root / "input.parquet").read_row_group(0).slice(0, 10_000)
        pq.write_table(warm, root / "warm.parquet")
        # Scoring runs in a fresh process, so its peaks are not this one's (training, input).
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            measured = pool.apply(measure, (root, args.chunk_rows))
        in_memory = native(model, root / "input.parquet")
    print(
        json.dumps(
            {
                "benchmark": "batch_scoring",
                "python": platform.python_version(),
                "machine": platform.machine(),
                "rows": args.rows,
                "features": len(FEATURES),
                "chunk_rows": args.chunk_rows,
                "feature_values_mib": round(args.rows * len(FEATURES) * 8 / 2**20, 1),
                **measured,
                "native_predict_in_memory": in_memory,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
