"""Saving, loading and predicting through kiln.models; prints one JSON object to stdout.

    python benchmarks/models.py
    python benchmarks/models.py --repeats 50

For a LogisticRegression and a HistGradientBoostingClassifier on 20 numeric
features: ``save_model`` (skops file, input example, signature, requirement
pins, infra measurement with a round-trip load), the requirement pins alone,
``load_model`` (hash check + skops load), and predict latency on 1 and 1,000
rows through the :class:`~kiln.models.Predictor` (signature enforcement
included) against the native estimator. Also the first save in a fresh
process, which pays for importing skops (and, through it, all of scikit-learn).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kiln.models import get_flavor, load_model, save_model
from kiln.models._requirements import collect_requirements

FEATURES = 20


def median_seconds(action: Callable[[], Any], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def table(rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.random((rows, FEATURES)), columns=[f"f{i}" for i in range(FEATURES)])
    labels = (frame["f0"] + frame["f1"] * 0.5 > 0.8).to_numpy().astype(int)
    return frame, labels


def bench_model(name: str, model: Any, root: Path, repeats: int) -> dict[str, Any]:
    frame, labels = table(10_000)
    model.fit(frame, labels)
    example = frame.head(5)
    counter = iter(range(10**6))

    def save() -> None:
        save_model(model, root / f"{name}-{next(counter)}", input_example=example)

    save()  # warm: imports, first-use caches
    result: dict[str, Any] = {"save_model_ms": round(median_seconds(save, repeats) * 1e3, 1)}
    path = root / f"{name}-0"
    info_files = sorted(p.name for p in path.iterdir())
    result["files"] = info_files
    result["load_model_ms"] = round(median_seconds(lambda: load_model(path), repeats) * 1e3, 1)

    predictor = load_model(path)
    native = load_model(path, native=True)
    for rows in (1, 1000):
        batch = frame.head(rows)
        loops = max(repeats * 20, 200) if rows == 1 else max(repeats * 2, 50)
        wrapped = median_seconds(lambda b=batch: predictor.predict(b), loops)
        bare = median_seconds(lambda b=batch: native.predict(b), loops)
        result[f"predict_{rows}_rows"] = {
            "predictor_us": round(wrapped * 1e6, 1),
            "native_us": round(bare * 1e6, 1),
            "overhead_us": round((wrapped - bare) * 1e6, 1),
        }
    return result


def first_save_in_fresh_process(root: Path) -> float:
    code = f"""
import time, numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
frame = pd.DataFrame(np.random.default_rng(0).random((200, {FEATURES})),
                     columns=[f"f{{i}}" for i in range({FEATURES})])
model = LogisticRegression().fit(frame, (frame["f0"] > 0.5).astype(int))
from kiln.models import save_model
started = time.perf_counter()
save_model(model, {str(root / "cold")!r}, input_example=frame.head(5))
print(time.perf_counter() - started)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    packages = [*get_flavor("sklearn").packages, "pandas"]
    collect_requirements(packages)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results: dict[str, Any] = {
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": __import__("os").cpu_count(),
            },
            "requirements_ms": round(
                median_seconds(lambda: collect_requirements(packages), args.repeats) * 1e3, 2
            ),
            "logistic_regression": bench_model(
                "lr", LogisticRegression(max_iter=1000), root, args.repeats
            ),
            "hist_gradient_boosting": bench_model(
                "hgb", HistGradientBoostingClassifier(max_iter=100), root, args.repeats
            ),
            "first_save_in_fresh_process_s": round(first_save_in_fresh_process(root), 2),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
